package org.fsredge.demo.core

import org.json.JSONArray
import org.json.JSONException
import org.json.JSONObject

/** A manifest the app cannot use: the message names the field and what to do (re-export, re-install assets). */
class ManifestException(message: String) : IllegalArgumentException(message)

/** Per-channel normalisation applied after scaling to [ManifestTensorSpec.valueRange]; `null` mean/std = "none". */
data class Normalization(val mean: FloatArray?, val std: FloatArray?) {
    val isNone: Boolean get() = mean == null

    companion object {
        val NONE = Normalization(null, null)
    }
}

/** Contract of one model tensor: `(1, 3, H, W)` float32 NCHW, channels in [channelOrder], values in [valueRange]. */
data class ManifestTensorSpec(
    val name: String,
    val shape: List<Int>,
    val dtype: String,
    val layout: String,
    val channelOrder: String,
    val valueRange: Pair<Float, Float>,
    val normalization: Normalization,
) {
    val height: Int get() = shape[2]
    val width: Int get() = shape[3]
    val numel: Int get() = shape.fold(1) { acc, d -> acc * d }
}

/** One exported file (.pte for the app) with its I/O contract and golden vectors (paths relative to the manifest). */
data class ManifestArtifact(
    val id: String,
    val target: String,
    val precision: String,
    val file: String?,
    val sha256: String,
    val sizeBytes: Long,
    val runtime: String,
    val input: ManifestTensorSpec,
    val output: ManifestTensorSpec,
    val goldenInput: String?,
    val goldenOutput: String?,
    /** The PSNR a runtime's output on the golden input must reach against the golden output (`golden.min_psnr_db`). */
    val goldenMinPsnrDb: Double?,
    val verificationStatus: String?,
    val exportStatus: String?,
)

data class ManifestModel(val name: String, val arch: String, val scale: Int, val lrSize: Int)

data class Manifest(val fsrEdgeVersion: String, val model: ManifestModel, val artifacts: List<ManifestArtifact>) {
    /**
     * The artifacts this app can run: ExecuTorch programs that were written (a file) and did not fail the
     * exporter's verification, in manifest order.
     */
    val executorchArtifacts: List<ManifestArtifact>
        get() = artifacts.filter { it.target == TARGET_EXECUTORCH && it.file != null && it.verificationStatus != FAILED }

    companion object {
        const val TARGET_EXECUTORCH = "executorch"
        /** The manifest format this app reads (`exporters/manifest.py` FORMAT); a new major version is refused. */
        const val FORMAT = "fsr_edge.export-manifest/1"
        private const val FAILED = "failed"

        /** Parses manifest.json; any missing or mistyped field becomes a [ManifestException] naming it. */
        fun parse(text: String): Manifest = try {
            fromJson(JSONObject(text))
        } catch (e: JSONException) {
            throw ManifestException("manifest.json: ${e.message}; re-export with fsr-edge export and re-install the assets")
        }

        fun fromJson(root: JSONObject): Manifest {
            val format = root.optString(ManifestKeys.Root.FORMAT)
            if (format != FORMAT) {
                throw ManifestException("manifest.json format '$format': this app reads '$FORMAT'; update the app or re-export")
            }
            val model = root.req(ManifestKeys.Root.MODEL, "manifest").let { m ->
                ManifestModel(
                    name = m.getString(ManifestKeys.Model.NAME),
                    arch = m.getString(ManifestKeys.Model.ARCH),
                    scale = m.getInt(ManifestKeys.Model.SCALE),
                    lrSize = m.getInt(ManifestKeys.Model.LR_SIZE),
                )
            }
            val list = root.optJSONArray(ManifestKeys.Root.ARTIFACTS)
                ?: throw ManifestException("manifest.json has no '${ManifestKeys.Root.ARTIFACTS}' list: re-export with fsr-edge export")
            val artifacts = (0 until list.length()).map { parseArtifact(list.getJSONObject(it)) }
            return Manifest(root.optString(ManifestKeys.Root.VERSION, "unknown"), model, artifacts)
        }

        private fun parseArtifact(a: JSONObject): ManifestArtifact {
            val id = a.getString(ManifestKeys.Artifact.ID)
            val golden = a.optJSONObject(ManifestKeys.Artifact.GOLDEN)
            val verification = a.optJSONObject(ManifestKeys.Artifact.VERIFICATION)
            val input = parseTensor(a.firstOf(ManifestKeys.Artifact.INPUTS, id), "artifact $id inputs[0]")
            val output = parseTensor(a.firstOf(ManifestKeys.Artifact.OUTPUTS, id), "artifact $id outputs[0]")
            return ManifestArtifact(
                id = id,
                target = a.getString(ManifestKeys.Artifact.TARGET),
                precision = a.getString(ManifestKeys.Artifact.PRECISION),
                file = a.optNullableString(ManifestKeys.Artifact.FILE),
                sha256 = a.optNullableString(ManifestKeys.Artifact.SHA256) ?: "",
                sizeBytes = a.optLong(ManifestKeys.Artifact.SIZE_BYTES, -1L),
                runtime = a.optNullableString(ManifestKeys.Artifact.RUNTIME) ?: "",
                input = input,
                output = output,
                goldenInput = golden?.let { parseGoldenFile(it, ManifestKeys.Golden.INPUT, input, id) },
                goldenOutput = golden?.let { parseGoldenFile(it, ManifestKeys.Golden.OUTPUT, output, id) },
                goldenMinPsnrDb = golden?.takeIf { it.has(ManifestKeys.Golden.MIN_PSNR_DB) }
                    ?.getDouble(ManifestKeys.Golden.MIN_PSNR_DB),
                verificationStatus = verification?.optNullableString(ManifestKeys.Verification.STATUS),
                exportStatus = a.optNullableString(ManifestKeys.Artifact.EXPORT_STATUS),
            )
        }

        /** A golden vector's relative path, after checking it is the raw little-endian float32 tensor of [spec]. */
        private fun parseGoldenFile(golden: JSONObject, key: String, spec: ManifestTensorSpec, id: String): String {
            val g = golden.req(key, "artifact $id golden")
            val shape = g.getJSONArray(ManifestKeys.GoldenFile.SHAPE).toIntList()
            val dtype = g.getString(ManifestKeys.GoldenFile.DTYPE)
            val order = g.getString(ManifestKeys.GoldenFile.BYTE_ORDER)
            if (shape != spec.shape || dtype != "float32" || order != "little") {
                throw ManifestException(
                    "artifact $id golden $key is $dtype/$order $shape, expected float32/little ${spec.shape}: re-export",
                )
            }
            return g.getString(ManifestKeys.GoldenFile.FILE)
        }

        private fun parseTensor(t: JSONObject, where: String): ManifestTensorSpec {
            val k = ManifestKeys.TensorSpec
            val shape = t.getJSONArray(k.SHAPE).toIntList()
            val range = t.getJSONArray(k.VALUE_RANGE)
            val spec = ManifestTensorSpec(
                name = t.optString(k.NAME, ""),
                shape = shape,
                dtype = t.getString(k.DTYPE),
                layout = t.getString(k.LAYOUT),
                channelOrder = t.getString(k.CHANNEL_ORDER),
                valueRange = range.getDouble(0).toFloat() to range.getDouble(1).toFloat(),
                normalization = parseNormalization(t.opt(k.NORMALIZATION), where),
            )
            // The app's pixel code handles exactly this family of contracts; anything else must fail loudly here,
            // not produce a silently wrong picture.
            if (spec.dtype != "float32") throw ManifestException("$where dtype '${spec.dtype}': the app feeds float32 only")
            if (spec.layout != "NCHW") throw ManifestException("$where layout '${spec.layout}': the app builds NCHW only")
            if (spec.channelOrder !in setOf("RGB", "BGR")) {
                throw ManifestException("$where channel_order '${spec.channelOrder}': expected RGB or BGR")
            }
            if (shape.size != 4 || shape[0] != 1 || shape[1] != 3) {
                throw ManifestException("$where shape $shape: expected [1, 3, H, W]")
            }
            if (spec.valueRange.second <= spec.valueRange.first) {
                throw ManifestException("$where value_range ${spec.valueRange}: upper bound must exceed lower bound")
            }
            return spec
        }

        private fun parseNormalization(value: Any?, where: String): Normalization = when (value) {
            null, JSONObject.NULL -> Normalization.NONE
            is String -> if (value == "none") Normalization.NONE
            else throw ManifestException("$where normalization '$value': expected \"none\" or {mean, std}")
            is JSONObject -> Normalization(
                value.getJSONArray(ManifestKeys.NormalizationSpec.MEAN).toFloatArray(),
                value.getJSONArray(ManifestKeys.NormalizationSpec.STD).toFloatArray(),
            )
            else -> throw ManifestException("$where normalization $value: expected \"none\" or {mean, std}")
        }

        private fun JSONObject.firstOf(key: String, id: String): JSONObject =
            optJSONArray(key)?.optJSONObject(0)
                ?: throw ManifestException("artifact $id has no '$key' tensor contract: re-export with fsr-edge export")

        /** JSON null (an artifact that was not produced has `"file": null`) reads as Kotlin null, not "null". */
        private fun JSONObject.optNullableString(key: String): String? =
            if (isNull(key)) null else optString(key).takeIf { it.isNotEmpty() }

        private fun JSONObject.req(key: String, where: String): JSONObject =
            optJSONObject(key) ?: throw ManifestException("$where has no '$key' object: re-export with fsr-edge export")

        private fun JSONArray.toIntList(): List<Int> = (0 until length()).map { getInt(it) }

        private fun JSONArray.toFloatArray(): FloatArray = FloatArray(length()) { getDouble(it).toFloat() }
    }
}
