package org.fsredge.demo.core

import java.nio.ByteBuffer
import java.nio.ByteOrder
import kotlin.math.log10

/** Golden vectors are raw little-endian float32 (`numpy.ndarray.astype('<f4').tofile`). */
fun readFloat32Le(bytes: ByteArray): FloatArray {
    require(bytes.size % 4 == 0) { "a float32 file must hold a multiple of 4 bytes, got ${bytes.size}" }
    val floats = FloatArray(bytes.size / 4)
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(floats)
    return floats
}

/**
 * PSNR in dB of [actual] against [reference] over `dataRange` (the output spec's value range width); +Infinity when
 * they are identical. Accumulates in double, like `skimage.metrics.peak_signal_noise_ratio`.
 */
fun psnrDb(reference: FloatArray, actual: FloatArray, dataRange: Double): Double {
    require(reference.size == actual.size) { "PSNR of ${reference.size} vs ${actual.size} values" }
    require(reference.isNotEmpty()) { "PSNR of empty arrays" }
    var sum = 0.0
    for (i in reference.indices) {
        val d = reference[i].toDouble() - actual[i].toDouble()
        sum += d * d
    }
    val mse = sum / reference.size
    return if (mse == 0.0) Double.POSITIVE_INFINITY else 10.0 * log10(dataRange * dataRange / mse)
}

/** Outcome of running the golden input through the on-device runtime. */
data class GoldenCheck(val artifactId: String, val psnrDb: Double, val thresholdDb: Double, val maxAbsError: Float) {
    val passed: Boolean get() = psnrDb >= thresholdDb

    fun summary(): String {
        val psnr = if (psnrDb.isInfinite()) "inf" else "%.2f".format(psnrDb)
        val verdict = if (passed) "PASS" else "FAIL"
        return "golden check $verdict for $artifactId: PSNR $psnr dB vs golden output " +
            "(threshold %.1f dB), max |diff| %.2e".format(thresholdDb, maxAbsError)
    }
}

/**
 * Compares a runtime's output on the golden input with the manifest's golden output, against the manifest's own
 * bar for this artifact's precision (`golden.min_psnr_db`).
 */
fun checkGolden(artifact: ManifestArtifact, goldenOutput: FloatArray, actualOutput: FloatArray): GoldenCheck {
    val threshold = artifact.goldenMinPsnrDb
        ?: throw ManifestException("artifact ${artifact.id} has no golden.min_psnr_db: re-export it")
    if (goldenOutput.size != artifact.output.numel) {
        throw ManifestException(
            "golden output of ${artifact.id} holds ${goldenOutput.size} floats, io.output shape ${artifact.output.shape}",
        )
    }
    val range = (artifact.output.valueRange.second - artifact.output.valueRange.first).toDouble()
    var maxAbs = 0f
    for (i in goldenOutput.indices) maxAbs = maxOf(maxAbs, kotlin.math.abs(goldenOutput[i] - actualOutput[i]))
    return GoldenCheck(artifact.id, psnrDb(goldenOutput, actualOutput, range), threshold, maxAbs)
}
