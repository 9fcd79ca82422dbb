package org.fsredge.demo.core

/** A small manifest in the shape `exporters/manifest.py` writes, for tests that must not depend on an export. */
internal fun sampleManifestJson(
    lr: Int = 4,
    scale: Int = 2,
    channelOrder: String = "RGB",
    valueRange: String = "[0, 1]",
    normalization: String = "\"none\"",
    format: String = Manifest.FORMAT,
): String {
    val hr = lr * scale
    fun tensor(name: String, size: Int) = """
        {"name": "$name", "shape": [1, 3, $size, $size], "dtype": "float32", "layout": "NCHW",
         "channel_order": "$channelOrder", "value_range": $valueRange, "normalization": $normalization}"""
    fun golden(file: String, size: Int) =
        """{"file": "$file", "shape": [1, 3, $size, $size], "dtype": "float32", "byte_order": "little"}"""
    val io = """"inputs": [${tensor("lr_face", lr)}], "outputs": [${tensor("sr_face", hr)}]"""
    return """
    {"format": "$format", "fsr_edge_version": "0.1.0", "created_at": "2026-11-21T10:00:00+00:00",
     "model": {"name": "tiny", "arch": "edge_sr_x8", "scale": $scale, "lr_size": $lr, "params": 10, "macs": 1000},
     "artifacts": [
       {"id": "onnx-fp32-4x4", "target": "onnx", "precision": "fp32", "file": "m.onnx", "sha256": "00",
        "size_bytes": 1, "runtime": "onnxruntime", $io, "verification": {"status": "passed"}},
       {"id": "executorch-int8-4x4", "target": "executorch", "precision": "int8", "file": null, "sha256": null,
        "size_bytes": null, "runtime": null, $io, "export_status": "error", "verification": {"status": "failed"}},
       {"id": "executorch-fp32-4x4", "target": "executorch", "precision": "fp32", "file": "executorch/m.pte",
        "sha256": "ab", "size_bytes": 1234, "runtime": "executorch", $io, "export_status": "exported",
        "golden": {"input": ${golden("executorch/in.bin", lr)}, "output": ${golden("executorch/out.bin", hr)},
                   "output_source": "artifact", "min_psnr_db": 45.0},
        "verification": {"status": "passed"}}
     ]}
    """
}
