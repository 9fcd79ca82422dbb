package org.fsredge.demo.core

import org.json.JSONObject
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assume.assumeTrue
import org.junit.Test
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * Cross-language checks against a real export: `tests/test_android_kotlin.py` exports the student, writes the
 * Python reference's results next to it (`vectors.json`) and runs this class with `-Dfsredge.vectors=DIR`.
 * Without that property (a plain `./gradlew :core:test`) these tests are skipped, the others still run.
 */
class GoldenVectorsTest {
    private val dir: File? = (System.getProperty("fsredge.vectors") ?: System.getenv("FSR_EDGE_VECTORS"))
        ?.takeIf { it.isNotEmpty() }?.let(::File)

    private fun vectors(): JSONObject {
        assumeTrue("no -Dfsredge.vectors=DIR: cross-language vectors not generated", dir != null)
        return JSONObject(File(dir, "vectors.json").readText())
    }

    private fun file(name: String) = File(dir, name)

    private fun ints(name: String): IntArray {
        val bytes = file(name).readBytes()
        val out = IntArray(bytes.size / 4)
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(out)
        return out
    }

    private fun artifact(v: JSONObject): Pair<File, ManifestArtifact> {
        val dist = File(v.getString("dist"))
        val manifest = Manifest.parse(File(dist, "manifest.json").readText())
        return dist to manifest.executorchArtifacts.first { it.id == v.getString("artifact_id") }
    }

    @Test
    fun preprocessMatchesPythonBitForBit() {
        val v = vectors()
        val (_, art) = artifact(v)
        val pre = v.getJSONObject("pre")
        val tensor = preprocessArgb(ints(pre.getString("argb")), art.input.width, art.input.height, art.input)
        assertArrayEquals(readFloat32Le(file(pre.getString("expected")).readBytes()), tensor, 0f)
    }

    @Test
    fun postprocessOfGoldenOutputMatchesPython() {
        val v = vectors()
        val (dist, art) = artifact(v)
        val golden = readFloat32Le(File(dist, art.goldenOutput!!).readBytes())
        val img = postprocessToArgb(golden, art.output)
        assertArrayEquals(ints(v.getJSONObject("post").getString("expected_argb")), img.pixels)
    }

    @Test
    fun goldenCheckAgreesWithPythonOnTheRuntimeOutput() {
        val v = vectors()
        val (dist, art) = artifact(v)
        val golden = readFloat32Le(File(dist, art.goldenOutput!!).readBytes())
        val goldenInput = readFloat32Le(File(dist, art.goldenInput!!).readBytes())
        assertEquals(art.input.numel, goldenInput.size)
        val self = checkGolden(art, golden, golden)
        assertTrue(self.passed && self.psnrDb.isInfinite())
        val runtime = checkGolden(art, golden, readFloat32Le(file(v.getString("runtime_output")).readBytes()))
        if (v.isNull("runtime_psnr_db")) assertTrue(runtime.psnrDb.isInfinite())  // exact match (JSON has no inf)
        else assertEquals(v.getDouble("runtime_psnr_db"), runtime.psnrDb, 1e-6)
        assertEquals(v.getBoolean("runtime_passed"), runtime.passed)
    }

    @Test
    fun alignmentIsTheInverseOfFsrEdgeFacesFfhqMatrix() {
        val cases = vectors().getJSONArray("align")
        assertTrue(cases.length() > 0)
        for (i in 0 until cases.length()) {
            val c = cases.getJSONObject(i)
            val p = c.getJSONArray("points")
            fun pt(k: Int) = Point(p.getJSONArray(k).getDouble(0), p.getJSONArray(k).getDouble(1))
            val m = FaceLandmarks(pt(0), pt(1), pt(2), pt(3)).quad().cropToImage(c.getInt("size")).inverse()
            val e = c.getJSONArray("photo_to_crop")
            val got = doubleArrayOf(m.a, m.b, m.c, m.d, m.e, m.f)
            val want = DoubleArray(6) { e.getJSONArray(it / 3).getDouble(it % 3) }
            assertArrayEquals("case $i", want, got, 1e-6)
        }
    }

    @Test
    fun appCropLooksLikeThePythonPipelinesCrop() {
        val v = vectors()
        assumeTrue("no crop case (fsr_edge[faces] not installed)", v.has("crop"))
        val (_, art) = artifact(v)
        val c = v.getJSONObject("crop")
        val photo = ArgbImage(c.getInt("width"), c.getInt("height"), ints(c.getString("photo_argb")))
        val p = c.getJSONArray("points")
        fun pt(k: Int) = Point(p.getJSONArray(k).getDouble(0), p.getJSONArray(k).getDouble(1))
        val restorer = FaceRestorer(art, StudentRunner { FloatArray(art.output.numel) })
        val lr = restorer.alignedLrFace(photo, FaceLandmarks(pt(0), pt(1), pt(2), pt(3)))
        val mine = preprocessArgb(lr.pixels, lr.width, lr.height, art.input)
        val theirs = preprocessArgb(ints(c.getString("lr_expected_argb")), lr.width, lr.height, art.input)
        val psnr = psnrDb(theirs, mine, 1.0)
        File(dir, "crop_psnr_db.txt").writeText(psnr.toString())
        assertTrue("app crop vs fsr_edge.faces.align_face: $psnr dB", psnr >= c.getDouble("min_psnr_db"))
    }

    @Test
    fun writesABenchJsonForFsrEdgeReport() {
        val v = vectors()
        val (dist, art) = artifact(v)
        val text = File(dist, "manifest.json").readText()
        val manifest = Manifest.parse(text)
        val golden = readFloat32Le(File(dist, art.goldenOutput!!).readBytes())
        val samples = DoubleArray(30) { 3.0 + (it % 7) * 0.1 }
        val rows = listOf(
            BenchRow(art, BenchReport.STATUS_MEASURED, threads = 4, loadS = 0.02, firstInferenceMs = 9.0,
                outputShape = art.output.shape, golden = checkGolden(art, golden, golden),
                latency = LatencySummary.of(samples, 3, "fixed iteration count", 0.1), peakRssMb = 120.0,
                rssBeforeLoadMb = 100.0),
        ) + manifest.executorchArtifacts.drop(1).map {
            BenchRow(it, BenchReport.STATUS_FAILED, reason = "synthetic failure row written by the JVM test")
        }
        val report = BenchReport(JSONObject(text), manifest, DeviceInfo("jvm-test", "JVM test (synthetic timings)",
            "none", 4, 4, null), 4, "2026-11-21T00:00:00+00:00", mapOf("iterations" to samples.size), rows)
        file(v.getString("bench_out")).writeText(report.toJson().toString(1))
    }
}
