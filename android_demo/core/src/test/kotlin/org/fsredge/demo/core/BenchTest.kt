package org.fsredge.demo.core

import org.json.JSONObject
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertThrows
import org.junit.Test

class BenchTest {
    @Test
    fun percentilesMatchNumpyLinear() {
        val s = doubleArrayOf(1.0, 2.0, 3.0, 4.0, 10.0)
        assertEquals(3.0, LatencySummary.percentile(s, 50.0), 1e-12)
        assertEquals(7.6, LatencySummary.percentile(s, 90.0), 1e-12)   // np.percentile([1,2,3,4,10], 90)
        assertEquals(9.76, LatencySummary.percentile(s, 99.0), 1e-12)
    }

    @Test
    fun summaryNeedsEightSamples() {
        assertThrows(IllegalArgumentException::class.java) { LatencySummary.of(DoubleArray(7) { 1.0 }, 3, "fixed", 0.1) }
        val l = LatencySummary.of(DoubleArray(10) { it + 1.0 }, 3, "fixed iteration count", 0.1)
        assertEquals(5.5, l.meanMs, 1e-12)
        assertEquals(kotlin.math.sqrt(8.25), l.stdMs, 1e-12)
    }

    @Test
    fun reportCarriesRowsAndHonestNotMeasuredParts() {
        val text = sampleManifestJson()
        val manifest = Manifest.parse(text)
        val art = manifest.executorchArtifacts.single()
        val row = BenchRow(art, BenchReport.STATUS_MEASURED, threads = 4, loadS = 0.01, firstInferenceMs = 5.0,
            latency = LatencySummary.of(DoubleArray(20) { 2.0 + it * 0.01 }, 3, "fixed iteration count", 0.2),
            peakRssMb = 80.0, rssBeforeLoadMb = 60.0)
        val json = BenchReport(JSONObject(text), manifest, DeviceInfo("Pixel", "Android 15 (API 35)", "Tensor G3", 9, 9, null),
            4, "2026-11-21T10:00:00Z", mapOf("iterations" to 20), listOf(row)).toJson()
        val r = json.getJSONArray(BenchKeys.Report.ROWS).getJSONObject(0)
        assertEquals("executorch-fp32-4x4", r.getString(BenchKeys.Row.ID))
        assertEquals(20.0, r.getDouble(BenchKeys.Row.PEAK_RSS_DELTA_MB), 1e-12)
        assertEquals(2 * 1000 / (r.getJSONObject(BenchKeys.Row.LATENCY).getDouble(BenchKeys.Latency.P50_MS) / 1e3) / 1e9,
            r.getDouble(BenchKeys.Row.GFLOPS_ACHIEVED), 1e-12)
        assertFalse(json.getJSONObject(BenchKeys.Report.RATIOS).getString(BenchKeys.NotMeasured.STATUS) == "measured")
    }

    @Test
    fun procStatusParsesKilobytes() {
        val status = "Name:\tapp\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n"
        assertEquals(200.0, procStatusMb(status, "VmHWM")!!, 1e-12)
        assertEquals(100.0, procStatusMb(status, "VmRSS")!!, 1e-12)
        assertEquals(null, procStatusMb(status, "VmSwap"))
    }
}
