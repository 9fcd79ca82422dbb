package org.fsredge.demo

import android.content.Context
import android.os.Build
import org.fsredge.demo.core.BenchReport
import org.fsredge.demo.core.BenchRow
import org.fsredge.demo.core.DeviceInfo
import org.fsredge.demo.core.LatencySummary
import org.fsredge.demo.core.ManifestArtifact
import org.fsredge.demo.core.checkGolden
import org.fsredge.demo.core.procStatusMb
import java.io.File
import java.time.Instant
import java.time.temporal.ChronoUnit

/**
 * The phone's `fsr-edge bench`: every ExecuTorch artifact of the manifest, loaded, run once on the golden input
 * (first-inference time and golden PSNR), warmed up like the desktop harness (>= 3 runs and 0.5 s), then timed
 * [iterations] times one call at a time. Writes `bench.json` in the desktop schema (see [BenchReport]).
 *
 * Unlike the desktop harness, all rows share this app's process, so peak RSS includes the app itself; run it from
 * the instrumented test (no camera, no ML Kit loaded) for the cleanest memory number.
 */
object PhoneBench {
    private const val WARMUP_S = 0.5
    private const val MIN_WARMUP = 3
    private const val MAX_WARMUP = 200

    fun run(context: Context, iterations: Int, threads: Int, progress: (String) -> Unit = {}): File {
        require(iterations >= LatencySummary.MIN_ITERATIONS) { "iterations must be >= ${LatencySummary.MIN_ITERATIONS}" }
        val assets = StudentAssets.open(context)
        val rows = assets.manifest.executorchArtifacts.map { artifact ->
            progress("benchmarking ${artifact.id} ($iterations runs, $threads threads)")
            runCatching { measure(assets, artifact, iterations, threads) }.getOrElse { err ->
                BenchRow(artifact, BenchReport.STATUS_FAILED, reason = "${err.javaClass.simpleName}: ${err.message}")
            }
        }
        val settings = mapOf("iterations" to iterations, "warmup_s" to WARMUP_S, "threads" to threads,
            "harness" to "android_demo PhoneBench")
        val report = BenchReport(assets.manifestJson, assets.manifest, deviceInfo(), threads,
            Instant.now().truncatedTo(ChronoUnit.SECONDS).toString(), settings, rows)
        val dir = File(context.getExternalFilesDir(null) ?: context.filesDir, "bench").apply { mkdirs() }
        val out = File(dir, BENCH_FILE)
        val tmp = File(dir, "$BENCH_FILE.tmp")
        tmp.writeText(report.toJson().toString(1))
        if (!tmp.renameTo(out)) error("cannot write ${out.path}")
        return out
    }

    private fun measure(assets: StudentAssets, artifact: ManifestArtifact, iterations: Int, threads: Int): BenchRow {
        val modelPath = assets.modelFile(artifact).path
        val rssBefore = procStatusMb(File(PROC_STATUS).readText(), "VmRSS")
        var t0 = System.nanoTime()
        ExecuTorchStudent(modelPath, artifact, threads).use { student ->
            student.loadForward()
            val loadS = (System.nanoTime() - t0) / 1e9
            val goldenIn = assets.readFloats(requireNotNull(artifact.goldenInput) { "${artifact.id}: no golden input" })
            val goldenOut = assets.readFloats(requireNotNull(artifact.goldenOutput) { "${artifact.id}: no golden output" })
            t0 = System.nanoTime()
            val first = student.run(goldenIn)
            val firstMs = (System.nanoTime() - t0) / 1e6
            val golden = checkGolden(artifact, goldenOut, first)

            val warmEnd = System.nanoTime() + (WARMUP_S * 1e9).toLong()
            var warm = 0
            while (warm < MIN_WARMUP || (System.nanoTime() < warmEnd && warm < MAX_WARMUP)) {
                student.run(goldenIn)
                warm++
            }
            val samples = DoubleArray(iterations)
            val start = System.nanoTime()
            for (i in 0 until iterations) {
                val t = System.nanoTime()
                student.run(goldenIn)
                samples[i] = (System.nanoTime() - t) / 1e6
            }
            val wallS = (System.nanoTime() - start) / 1e9
            val peak = procStatusMb(File(PROC_STATUS).readText(), "VmHWM")
            return BenchRow(artifact, BenchReport.STATUS_MEASURED, threads = threads, loadS = loadS,
                firstInferenceMs = firstMs, outputShape = artifact.output.shape, golden = golden,
                latency = LatencySummary.of(samples, warm, "fixed iteration count", wallS), peakRssMb = peak,
                rssBeforeLoadMb = rssBefore)
        }
    }

    fun deviceInfo(): DeviceInfo {
        val soc = if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) "${Build.SOC_MANUFACTURER} ${Build.SOC_MODEL}" else Build.HARDWARE
        val cores = Runtime.getRuntime().availableProcessors()
        val maxKhz = (0 until cores).mapNotNull { cpu ->
            File("/sys/devices/system/cpu/cpu$cpu/cpufreq/cpuinfo_max_freq").takeIf { it.canRead() }
                ?.readText()?.trim()?.toDoubleOrNull()
        }.maxOrNull()
        return DeviceInfo(
            hostname = "${Build.MANUFACTURER} ${Build.MODEL}",
            platform = "Android ${Build.VERSION.RELEASE} (API ${Build.VERSION.SDK_INT}), ${Build.SUPPORTED_ABIS.firstOrNull()}",
            cpuModel = soc,
            logicalCpus = cores,
            usableCpus = cores,
            cpuMhz = maxKhz?.div(1000.0),
        )
    }

    const val BENCH_FILE = "bench.json"
    private const val PROC_STATUS = "/proc/self/status"
}
