package org.fsredge.demo

import androidx.test.ext.junit.runners.AndroidJUnit4
import androidx.test.platform.app.InstrumentationRegistry
import org.fsredge.demo.core.BenchKeys
import org.json.JSONObject
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith

/**
 * The phone benchmark without the UI, camera or ML Kit in the process:
 *   ./gradlew connectedDebugAndroidTest -Pandroid.testInstrumentationRunnerArguments.iterations=200 \
 *       -Pandroid.testInstrumentationRunnerArguments.threads=4
 * then `adb pull` the bench.json path it logs (see README.md) and pass its folder to `fsr-edge report`.
 */
@RunWith(AndroidJUnit4::class)
class StudentBenchmarkTest {
    @Test
    fun everyExecutorchArtifactIsMeasuredAndMatchesItsGoldenOutput() {
        val args = InstrumentationRegistry.getArguments()
        val iterations = args.getString("iterations")?.toIntOrNull() ?: 100
        val threads = args.getString("threads")?.toIntOrNull() ?: 4
        val context = InstrumentationRegistry.getInstrumentation().targetContext
        val file = PhoneBench.run(context, iterations, threads) { println(it) }
        println("bench.json written to ${file.path}")

        val rows = JSONObject(file.readText()).getJSONArray(BenchKeys.Report.ROWS)
        assertTrue("the manifest lists no executorch artifact", rows.length() > 0)
        val assets = StudentAssets.open(context)
        for (i in 0 until rows.length()) {
            val row = rows.getJSONObject(i)
            val id = row.getString(BenchKeys.Row.ID)
            assertEquals("$id: ${row.optString(BenchKeys.Row.REASON)}", "measured", row.getString(BenchKeys.Row.STATUS))
            val threshold = requireNotNull(assets.artifact(id).goldenMinPsnrDb)
            val psnr = row.getDouble(BenchKeys.Row.GOLDEN_PSNR_DB)
            assertTrue("$id: golden PSNR $psnr dB < $threshold dB", psnr >= threshold)
        }
    }
}
