package org.fsredge.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

class ManifestTest {
    @Test
    fun parsesContractAndPicksExecutorchArtifacts() {
        val m = Manifest.parse(sampleManifestJson())
        assertEquals(2, m.model.scale)
        // The int8 program failed to export (file null): the app must not offer it.
        assertEquals(listOf("executorch-fp32-4x4"), m.executorchArtifacts.map { it.id })
        val a = m.executorchArtifacts.single()
        assertEquals(listOf(1, 3, 4, 4), a.input.shape)
        assertEquals(8, a.output.width)
        assertEquals(0f to 1f, a.input.valueRange)
        assertTrue(a.input.normalization.isNone)
        assertEquals("executorch/out.bin", a.goldenOutput)
        assertEquals(45.0, a.goldenMinPsnrDb!!, 0.0)
    }

    @Test
    fun readsMeanStdNormalization() {
        val m = Manifest.parse(sampleManifestJson(normalization = """{"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.5, 1]}"""))
        val n = m.executorchArtifacts.single().input.normalization
        assertEquals(0.25f, n.std!![0], 0f)
    }

    @Test
    fun refusesContractsTheAppCannotFeed() {
        assertThrows(ManifestException::class.java) { Manifest.parse(sampleManifestJson(channelOrder = "GRAY")) }
        assertThrows(ManifestException::class.java) { Manifest.parse(sampleManifestJson(valueRange = "[1, 0]")) }
        assertThrows(ManifestException::class.java) { Manifest.parse(sampleManifestJson(normalization = "\"imagenet\"")) }
        assertThrows(ManifestException::class.java) { Manifest.parse("""{"model": {}}""") }
        assertThrows(ManifestException::class.java) { Manifest.parse(sampleManifestJson(format = "fsr_edge.export-manifest/2")) }
    }
}
