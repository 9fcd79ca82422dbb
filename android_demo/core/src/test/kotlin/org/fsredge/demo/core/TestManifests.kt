package org.fsredge.demo.core

/** A small manifest in the exported shape, for tests that must not depend on an export having run. */
internal fun sampleManifestJson(
    lr: Int = 4,
    scale: Int = 2,
    channelOrder: String = "RGB",
    valueRange: String = "[0, 1]",
    normalization: String = "\"none\"",
): String {
    val hr = lr * scale
    fun tensor(name: String, size: Int) = """
        {"name": "$name", "shape": [1, 3, $size, $size], "dtype": "float32", "layout": "NCHW",
         "channel_order": "$channelOrder", "value_range": $valueRange, "normalization": $normalization}"""
    return """
    {"fsr_edge_version": "0.1.0", "created_at": "2026-11-21T10:00:00+00:00",
     "model": {"name": "tiny", "arch": "edge_sr_x8", "scale": $scale, "lr_size": $lr, "params": 10, "macs": 1000},
     "artifacts": [
       {"id": "onnx-fp32", "target": "onnx", "precision": "fp32", "file": "m.onnx", "sha256": "00", "size_bytes": 1,
        "runtime": "onnxruntime", "io": {"input": ${tensor("lr_face", lr)}, "output": ${tensor("sr_face", hr)}}},
       {"id": "executorch-fp32", "target": "executorch", "precision": "fp32", "file": "m.pte", "sha256": "ab",
        "size_bytes": 1234, "runtime": "executorch",
        "io": {"input": ${tensor("lr_face", lr)}, "output": ${tensor("sr_face", hr)}},
        "golden": {"input": "golden/in.bin", "output": "golden/out.bin"},
        "verification": {"status": "passed", "psnr_threshold_db": 40.0}}
     ]}
    """
}
