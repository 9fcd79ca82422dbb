package org.fsredge.demo.core

/**
 * Packed 32-bit ARGB pixels, row-major, the layout of `android.graphics.Bitmap.getPixels`:
 * `(a shl 24) or (r shl 16) or (g shl 8) or b`.
 */
class ArgbImage(val width: Int, val height: Int, val pixels: IntArray = IntArray(width * height)) {
    init {
        require(width > 0 && height > 0 && pixels.size == width * height) {
            "ArgbImage ${width}x$height needs ${width * height} pixels, got ${pixels.size}"
        }
    }

    operator fun get(x: Int, y: Int): Int = pixels[y * width + x]

    fun copy(): ArgbImage = ArgbImage(width, height, pixels.copyOf())
}

internal fun packArgb(r: Int, g: Int, b: Int): Int = (0xFF shl 24) or (r shl 16) or (g shl 8) or b

/**
 * ARGB pixels -> the model's input tensor as a flat float array, `(1, 3, H, W)` NCHW, float32, channels in the
 * spec's order, each 8-bit value `c` mapped to `lo + (hi - lo) * (c / 255)`, then `(x - mean) / std` if the spec
 * normalises. Mirrored by `fsr_edge.android.preprocess_argb` (same float32 operation order: bit-identical).
 */
fun preprocessArgb(pixels: IntArray, width: Int, height: Int, spec: ManifestTensorSpec): FloatArray {
    if (spec.width != width || spec.height != height) {
        throw ManifestException("image is ${width}x$height but the model input '${spec.name}' is ${spec.shape}")
    }
    require(pixels.size == width * height) { "expected ${width * height} pixels, got ${pixels.size}" }
    val plane = width * height
    val out = FloatArray(3 * plane)
    val (lo, hi) = spec.valueRange
    val span = hi - lo
    val shifts = channelShifts(spec.channelOrder)
    for (c in 0 until 3) {
        val shift = shifts[c]
        val base = c * plane
        val mean = spec.normalization.mean?.get(c)
        val std = spec.normalization.std?.get(c)
        for (i in 0 until plane) {
            var x = ((pixels[i] ushr shift) and 0xFF) / 255f * span + lo
            if (mean != null && std != null) x = (x - mean) / std
            out[base + i] = x
        }
    }
    return out
}

/**
 * The model's output tensor (flat `(1, 3, H, W)` NCHW) -> opaque ARGB pixels: undo the normalisation, map the
 * spec's value range to [0, 1], clamp, and round half up to 8 bits. Mirrored by `fsr_edge.android.postprocess`.
 */
fun postprocessToArgb(tensor: FloatArray, spec: ManifestTensorSpec): ArgbImage {
    val width = spec.width
    val height = spec.height
    val plane = width * height
    if (tensor.size != 3 * plane) {
        throw ManifestException("output has ${tensor.size} values but '${spec.name}' is ${spec.shape}")
    }
    val (lo, hi) = spec.valueRange
    val span = hi - lo
    val shifts = channelShifts(spec.channelOrder)
    val pixels = IntArray(plane) { 0xFF shl 24 }
    for (c in 0 until 3) {
        val shift = shifts[c]
        val base = c * plane
        val mean = spec.normalization.mean?.get(c)
        val std = spec.normalization.std?.get(c)
        for (i in 0 until plane) {
            var x = tensor[base + i]
            if (mean != null && std != null) x = x * std + mean
            val unit = ((x - lo) / span).coerceIn(0f, 1f)
            pixels[i] = pixels[i] or ((unit * 255f + 0.5f).toInt() shl shift)
        }
    }
    return ArgbImage(width, height, pixels)
}

/** Bit offset of each tensor channel inside a packed ARGB int (R=16, G=8, B=0). */
private fun channelShifts(channelOrder: String): IntArray = when (channelOrder) {
    "RGB" -> intArrayOf(16, 8, 0)
    "BGR" -> intArrayOf(0, 8, 16)
    else -> throw ManifestException("channel_order '$channelOrder': expected RGB or BGR")
}
