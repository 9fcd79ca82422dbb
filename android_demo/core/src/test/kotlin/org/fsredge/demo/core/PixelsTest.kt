package org.fsredge.demo.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Test
import kotlin.random.Random

class PixelsTest {
    private val spec = Manifest.parse(sampleManifestJson()).executorchArtifacts.single().input

    private fun randomPixels(n: Int, seed: Int) = Random(seed).let { r -> IntArray(n) { packArgb(r.nextInt(256), r.nextInt(256), r.nextInt(256)) } }

    @Test
    fun preprocessIsPlanarRgbInUnitRange() {
        val px = IntArray(16) { packArgb(255, 0, 51) }
        val t = preprocessArgb(px, 4, 4, spec)
        assertEquals(48, t.size)
        assertEquals(1f, t[0], 0f)          // R plane
        assertEquals(0f, t[16], 0f)         // G plane
        assertEquals(0.2f, t[32], 1e-7f)    // B plane: 51 / 255
    }

    @Test
    fun postprocessInvertsPreprocessExactlyForEightBitImages() {
        val px = randomPixels(16, 1)
        val roundTrip = postprocessToArgb(preprocessArgb(px, 4, 4, spec), spec)
        assertArrayEquals(px, roundTrip.pixels)
    }

    @Test
    fun roundTripHoldsForBgrSignedRangeAndNormalisation() {
        val m = Manifest.parse(sampleManifestJson(lr = 4, scale = 1, channelOrder = "BGR", valueRange = "[-1, 1]",
            normalization = """{"mean": [0.1, 0.2, 0.3], "std": [0.5, 0.6, 0.7]}"""))
        val s = m.executorchArtifacts.single().input
        val px = randomPixels(16, 2)
        val t = preprocessArgb(px, 4, 4, s)
        assertEquals(((px[0] and 0xFF) / 255f * 2f - 1f - 0.1f) / 0.5f, t[0], 1e-6f)  // B first
        assertArrayEquals(px, postprocessToArgb(t, s).pixels)
    }

    @Test
    fun postprocessClampsOutOfRangeValues() {
        val out = Manifest.parse(sampleManifestJson()).executorchArtifacts.single().output
        val t = FloatArray(3 * 64) { if (it % 2 == 0) 1.7f else -0.3f }
        val img = postprocessToArgb(t, out)
        assertEquals(packArgb(255, 255, 255), img.pixels[0])
        assertEquals(packArgb(0, 0, 0), img.pixels[1])
    }

    @Test
    fun wrongSizeIsRefused() {
        assertThrows(ManifestException::class.java) { preprocessArgb(IntArray(25), 5, 5, spec) }
    }
}
