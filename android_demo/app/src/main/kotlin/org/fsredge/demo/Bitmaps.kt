package org.fsredge.demo

import android.graphics.Bitmap
import android.graphics.Matrix
import org.fsredge.demo.core.ArgbImage

/** Android's `getPixels` layout is exactly [ArgbImage]'s: packed ARGB, row-major. */
fun Bitmap.toArgbImage(): ArgbImage {
    val pixels = IntArray(width * height)
    getPixels(pixels, 0, width, 0, 0, width, height)
    return ArgbImage(width, height, pixels)
}

fun ArgbImage.toBitmap(): Bitmap = Bitmap.createBitmap(pixels, width, height, Bitmap.Config.ARGB_8888)

/** Camera frames arrive in sensor orientation; faces are detected and aligned upright. */
fun Bitmap.rotated(degrees: Int): Bitmap {
    if (degrees % 360 == 0) return this
    return Bitmap.createBitmap(this, 0, 0, width, height, Matrix().apply { postRotate(degrees.toFloat()) }, true)
}
