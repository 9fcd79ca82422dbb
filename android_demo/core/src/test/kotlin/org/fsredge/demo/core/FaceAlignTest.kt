package org.fsredge.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

class FaceAlignTest {
    private val upright = FaceLandmarks(Point(40.0, 50.0), Point(80.0, 50.0), Point(45.0, 90.0), Point(75.0, 90.0))

    @Test
    fun uprightFaceGivesAxisAlignedSquare() {
        val q = upright.quad()
        // eye_to_eye (40, 0), eye_to_mouth (0, 40): x = (80, 0) normalised, times max(80, 72) = 80.
        assertEquals(80.0, q.xAxis.x, 1e-9)
        assertEquals(0.0, q.xAxis.y, 1e-9)
        assertEquals(80.0, q.yAxis.y, 1e-9)
        assertEquals(60.0, q.center.x, 1e-9)
        assertEquals(54.0, q.center.y, 1e-9)
    }

    @Test
    fun cropEdgesAreTheQuadCorners() {
        val q = upright.quad()
        val size = 32
        val m = q.cropToImage(size)
        val tl = m.map(-0.5, -0.5)
        val br = m.map(size - 0.5, size - 0.5)
        assertEquals(q.corners[0].x, tl.x, 1e-9)
        assertEquals(q.corners[0].y, tl.y, 1e-9)
        assertEquals(q.corners[2].x, br.x, 1e-9)
        assertEquals(q.corners[2].y, br.y, 1e-9)
        val inv = m.inverse()
        val p = inv.map(m.map(3.0, 7.0).x, m.map(3.0, 7.0).y)
        assertEquals(3.0, p.x, 1e-9)
        assertEquals(7.0, p.y, 1e-9)
    }

    @Test
    fun warpOfIdentityMapCopiesTheImage() {
        val img = ArgbImage(8, 8, IntArray(64) { packArgb(it * 3, 255 - it, it) })
        val out = warpToCrop(img, Affine(1.0, 0.0, 0.0, 0.0, 1.0, 0.0), 8)
        assertTrue(img.pixels.contentEquals(out.pixels))
    }

    @Test
    fun boxDownsampleAveragesBlocks() {
        val img = ArgbImage(2, 2, intArrayOf(packArgb(0, 0, 0), packArgb(255, 0, 10), packArgb(0, 0, 20), packArgb(255, 0, 10)))
        assertEquals(packArgb(128, 0, 10), boxDownsample(img, 2).pixels[0])
    }

    @Test
    fun pasteOfTheFramesOwnCropChangesLittleAndStaysInsideTheQuad() {
        val w = 200
        val h = 200
        val frame = ArgbImage(w, h, IntArray(w * h) { i -> packArgb(i % w, i / w, 128) })
        val m = upright.quad().cropToImage(64)
        val crop = warpToCrop(frame, m, 64)
        val pasted = frame.copy()
        val n = pasteCrop(pasted, crop, m)
        assertTrue("pasted $n pixels", n > 1000)
        var maxDiff = 0
        for (i in frame.pixels.indices) {
            for (shift in intArrayOf(16, 8, 0)) {
                maxDiff = maxOf(maxDiff, kotlin.math.abs(((frame.pixels[i] ushr shift) and 0xFF) - ((pasted.pixels[i] ushr shift) and 0xFF)))
            }
        }
        assertTrue("a smooth ramp resampled twice stays within 3 levels, got $maxDiff", maxDiff <= 3)
        assertEquals(frame[190, 190], pasted[190, 190])  // outside the face square nothing is touched
    }

    @Test
    fun subjectSidedLandmarksGiveTheSameSquareMirroredOrNot() {
        // Unmirrored: the subject's left eye appears on the image's right.
        val direct = FaceLandmarks.fromSubjectSides(Point(80.0, 50.0), Point(40.0, 50.0), Point(75.0, 90.0), Point(45.0, 90.0))
        assertEquals(upright, direct)
        // Mirrored (front preview): the subject's left eye appears on the image's left.
        val mirrored = FaceLandmarks.fromSubjectSides(Point(40.0, 50.0), Point(80.0, 50.0), Point(45.0, 90.0), Point(75.0, 90.0))
        assertEquals(upright.quad(), mirrored.quad())
    }

    @Test
    fun maskIsZeroOnTheBorderAndOneInside() {
        assertEquals(0f, faceMaskWeight(-0.5, 10.0, 64), 0f)
        assertEquals(1f, faceMaskWeight(32.0, 32.0, 64), 0f)
    }
}
