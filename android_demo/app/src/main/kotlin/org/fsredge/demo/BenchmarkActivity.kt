package org.fsredge.demo

import android.os.Bundle
import android.widget.Button
import android.widget.EditText
import android.widget.TextView
import androidx.appcompat.app.AppCompatActivity
import androidx.lifecycle.lifecycleScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.fsredge.demo.core.BenchKeys
import org.fsredge.demo.core.BenchReport
import org.json.JSONObject

/** Runs [PhoneBench] and shows each row's median latency and golden PSNR, and where bench.json was written. */
class BenchmarkActivity : AppCompatActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_benchmark)
        val iterations = findViewById<EditText>(R.id.iterations)
        val threads = findViewById<EditText>(R.id.threads)
        val result = findViewById<TextView>(R.id.result)
        val run = findViewById<Button>(R.id.run)
        run.setOnClickListener {
            val n = iterations.text.toString().toIntOrNull() ?: 0
            val t = threads.text.toString().toIntOrNull() ?: 0
            run.isEnabled = false
            result.text = ""
            lifecycleScope.launch {
                val text = withContext(Dispatchers.Default) {
                    runCatching {
                        val file = PhoneBench.run(this@BenchmarkActivity, n, t) { line ->
                            runOnUiThread { result.append("$line\n") }
                        }
                        summarize(JSONObject(file.readText())) + "\nwritten: ${file.path}\n" +
                            "adb pull ${file.path} phone-bench/bench.json"
                    }.getOrElse { "benchmark failed: ${it.message}" }
                }
                result.append(text)
                run.isEnabled = true
            }
        }
    }

    private fun summarize(report: JSONObject): String {
        val rows = report.getJSONArray(BenchKeys.Report.ROWS)
        return (0 until rows.length()).joinToString("\n") { i ->
            val row = rows.getJSONObject(i)
            val id = row.getString(BenchKeys.Row.ID)
            if (row.getString(BenchKeys.Row.STATUS) != BenchReport.STATUS_MEASURED) {
                "$id: ${row.getString(BenchKeys.Row.STATUS)} (${row.optString(BenchKeys.Row.REASON)})"
            } else {
                val latency = row.getJSONObject(BenchKeys.Row.LATENCY)
                "%s: p50 %.2f ms, p90 %.2f ms, first %.1f ms, peak RSS %.0f MB, golden PSNR %.1f dB".format(
                    id, latency.getDouble(BenchKeys.Latency.P50_MS), latency.getDouble(BenchKeys.Latency.P90_MS),
                    row.getDouble(BenchKeys.Row.FIRST_INFERENCE_MS), row.getDouble(BenchKeys.Row.PEAK_RSS_MB),
                    row.optDouble(BenchKeys.Row.GOLDEN_PSNR_DB, Double.NaN),
                )
            }
        }
    }
}
