package org.fsredge.demo.core

import kotlin.math.ceil
import kotlin.math.floor
import kotlin.math.hypot
import kotlin.math.max
import kotlin.math.min

/**
 * Pixel coordinates with pixel centres on integers (pixel (i, j) covers [i-0.5, i+0.5) x [j-0.5, j+0.5)), the
 * convention of `fsr_edge.faces` (`ffhq_matrix`, `paste_face`), which this file mirrors for the phone.
 */
data class Point(val x: Double, val y: Double) {
    operator fun plus(o: Point) = Point(x + o.x, y + o.y)
    operator fun minus(o: Point) = Point(x - o.x, y - o.y)
    operator fun times(s: Double) = Point(x * s, y * s)
    val norm: Double get() = hypot(x, y)
}

/** `image = (a*u + b*v + c, d*u + e*v + f)` for a point (u, v) of the crop. */
data class Affine(val a: Double, val b: Double, val c: Double, val d: Double, val e: Double, val f: Double) {
    fun map(u: Double, v: Double): Point = Point(a * u + b * v + c, d * u + e * v + f)

    fun inverse(): Affine {
        val det = a * e - b * d
        require(det != 0.0) { "degenerate face quad (zero area)" }
        return Affine(e / det, -b / det, (b * f - c * e) / det, -d / det, a / det, (c * d - a * f) / det)
    }
}

/**
 * The FFHQ alignment square of one face (Karras et al.'s `recreate_aligned_images`), the way the training crops of
 * `../shared/data/faces` were made: centre `c`, half-axes `x` (towards the image-right eye) and `y` (towards the
 * mouth). Eyes and mouth corners are named by where they appear in the image, not by the subject's side.
 */
data class FaceQuad(val center: Point, val xAxis: Point, val yAxis: Point) {
    /** Corners top-left, bottom-left, bottom-right, top-right (FFHQ's quad order). */
    val corners: List<Point>
        get() = listOf(center - xAxis - yAxis, center - xAxis + yAxis, center + xAxis + yAxis, center + xAxis - yAxis)

    /**
     * Maps a pixel of a `size` x `size` aligned crop to the image: the quad's corners are the crop's outer edges,
     * so crop pixel u sits at `(2u + 1) / size - 1` along the half-axis (the inverse of `ffhq_matrix`).
     */
    fun cropToImage(size: Int): Affine {
        val s = 2.0 / size
        val origin = center - xAxis - yAxis + (xAxis + yAxis) * (1.0 / size)
        return Affine(xAxis.x * s, yAxis.x * s, origin.x, xAxis.y * s, yAxis.y * s, origin.y)
    }

    companion object {
        fun fromLandmarks(eyeLeft: Point, eyeRight: Point, mouthLeft: Point, mouthRight: Point): FaceQuad {
            val eyeAvg = (eyeLeft + eyeRight) * 0.5
            val eyeToEye = eyeRight - eyeLeft
            val mouthAvg = (mouthLeft + mouthRight) * 0.5
            val eyeToMouth = mouthAvg - eyeAvg
            // x = eye_to_eye - flipud(eye_to_mouth) * [-1, 1]: the eye line corrected by the face's vertical axis.
            var x = Point(eyeToEye.x + eyeToMouth.y, eyeToEye.y - eyeToMouth.x)
            x = x * (1.0 / x.norm)
            x = x * max(eyeToEye.norm * 2.0, eyeToMouth.norm * 1.8)
            val y = Point(-x.y, x.x)
            val c = eyeAvg + eyeToMouth * 0.1
            return FaceQuad(c, x, y)
        }
    }
}

/** Bilinear sample of the RGB channels at point (fx, fy), edges clamped. */
private fun sampleBilinear(src: ArgbImage, fx: Double, fy: Double, out: FloatArray) {
    val x0 = floor(fx).toInt()
    val y0 = floor(fy).toInt()
    val wx = (fx - x0).toFloat()
    val wy = (fy - y0).toFloat()
    val xa = x0.coerceIn(0, src.width - 1)
    val xb = (x0 + 1).coerceIn(0, src.width - 1)
    val ya = y0.coerceIn(0, src.height - 1)
    val yb = (y0 + 1).coerceIn(0, src.height - 1)
    val p00 = src[xa, ya]
    val p10 = src[xb, ya]
    val p01 = src[xa, yb]
    val p11 = src[xb, yb]
    for (c in 0 until 3) {
        val shift = 16 - 8 * c
        val top = ((p00 ushr shift) and 0xFF) * (1 - wx) + ((p10 ushr shift) and 0xFF) * wx
        val bottom = ((p01 ushr shift) and 0xFF) * (1 - wx) + ((p11 ushr shift) and 0xFF) * wx
        out[c] = top * (1 - wy) + bottom * wy
    }
}

private fun to8(v: Float): Int = (v + 0.5f).toInt().coerceIn(0, 255)

/** Resamples the `size` x `size` crop whose pixels map into [src] through [cropToImage] (bilinear, edges clamped). */
fun warpToCrop(src: ArgbImage, cropToImage: Affine, size: Int): ArgbImage {
    val out = ArgbImage(size, size)
    val rgb = FloatArray(3)
    for (v in 0 until size) {
        for (u in 0 until size) {
            val p = cropToImage.map(u.toDouble(), v.toDouble())
            sampleBilinear(src, p.x, p.y, rgb)
            out.pixels[v * size + u] = packArgb(to8(rgb[0]), to8(rgb[1]), to8(rgb[2]))
        }
    }
    return out
}

/**
 * Averages `factor` x `factor` blocks: the aligned crop is warped at the student's output size and reduced to its
 * input size this way, so a large face in the frame is low-passed before it becomes the small LR face.
 */
fun boxDownsample(src: ArgbImage, factor: Int): ArgbImage {
    require(factor >= 1 && src.width % factor == 0 && src.height % factor == 0) {
        "${src.width}x${src.height} is not divisible by $factor"
    }
    val w = src.width / factor
    val h = src.height / factor
    val out = ArgbImage(w, h)
    val n = (factor * factor).toFloat()
    for (y in 0 until h) {
        for (x in 0 until w) {
            var r = 0
            var g = 0
            var b = 0
            for (dy in 0 until factor) {
                for (dx in 0 until factor) {
                    val p = src[x * factor + dx, y * factor + dy]
                    r += (p ushr 16) and 0xFF
                    g += (p ushr 8) and 0xFF
                    b += p and 0xFF
                }
            }
            out.pixels[y * w + x] = packArgb(to8(r / n), to8(g / n), to8(b / n))
        }
    }
    return out
}

/**
 * Blend weight of a restored crop at crop point (u, v): 0 on the crop's border, 1 inside, the outer `erode` fraction
 * dropped and the next `feather` fraction ramped with a smoothstep: `fsr_edge.faces.face_mask`, evaluated at the
 * exact point instead of sampled from a grid.
 */
fun faceMaskWeight(u: Double, v: Double, size: Int, erode: Double = 0.02, feather: Double = 0.1): Float {
    fun ramp(t: Double): Double {
        val edge = min(t + 0.5, size - t - 0.5)
        val r = ((edge - max(1.0, erode * size)) / max(feather * size, 1.0)).coerceIn(0.0, 1.0)
        return r * r * (3.0 - 2.0 * r)
    }
    return min(ramp(u), ramp(v)).toFloat()
}

/**
 * Pastes [crop] back into [frame] in place through the crop's own [cropToImage] map, blended with [faceMaskWeight]
 * so the seam does not show (`fsr_edge.faces.paste_face` on the phone). Returns the number of frame pixels changed.
 */
fun pasteCrop(frame: ArgbImage, crop: ArgbImage, cropToImage: Affine): Int {
    require(crop.width == crop.height) { "aligned crops are square, got ${crop.width}x${crop.height}" }
    val size = crop.width
    val imageToCrop = cropToImage.inverse()
    val lo = -0.5
    val hi = size - 0.5
    val corners = listOf(cropToImage.map(lo, lo), cropToImage.map(lo, hi), cropToImage.map(hi, hi), cropToImage.map(hi, lo))
    val x0 = max(0, floor(corners.minOf { it.x }).toInt())
    val x1 = min(frame.width - 1, ceil(corners.maxOf { it.x }).toInt())
    val y0 = max(0, floor(corners.minOf { it.y }).toInt())
    val y1 = min(frame.height - 1, ceil(corners.maxOf { it.y }).toInt())
    val rgb = FloatArray(3)
    var written = 0
    for (j in y0..y1) {
        for (i in x0..x1) {
            val q = imageToCrop.map(i.toDouble(), j.toDouble())
            if (q.x < lo || q.y < lo || q.x >= hi || q.y >= hi) continue
            val w = faceMaskWeight(q.x, q.y, size)
            if (w <= 0f) continue
            sampleBilinear(crop, q.x, q.y, rgb)
            val idx = j * frame.width + i
            val old = frame.pixels[idx]
            val r = to8(((old ushr 16) and 0xFF) + w * (rgb[0] - ((old ushr 16) and 0xFF)))
            val g = to8(((old ushr 8) and 0xFF) + w * (rgb[1] - ((old ushr 8) and 0xFF)))
            val b = to8((old and 0xFF) + w * (rgb[2] - (old and 0xFF)))
            frame.pixels[idx] = packArgb(r, g, b)
            written++
        }
    }
    return written
}
