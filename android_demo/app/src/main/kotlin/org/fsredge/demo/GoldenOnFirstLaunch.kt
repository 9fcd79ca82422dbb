package org.fsredge.demo

import android.content.Context
import org.fsredge.demo.core.GoldenCheck
import org.fsredge.demo.core.ManifestArtifact

/** A golden check's outcome as shown on screen. */
data class GoldenStatus(val passed: Boolean, val text: String)

/**
 * Runs the golden check the first time an artifact (identified by its sha256) is launched and remembers the verdict,
 * so a new export is checked once on the device it lands on and later launches show that result.
 */
class GoldenOnFirstLaunch(context: Context) {
    private val prefs = context.getSharedPreferences(PREFS, Context.MODE_PRIVATE)

    fun resultFor(artifact: ManifestArtifact, check: () -> GoldenCheck): GoldenStatus {
        val key = artifact.sha256.ifEmpty { artifact.id }
        prefs.getString(key + SUMMARY_SUFFIX, null)?.let { summary ->
            return GoldenStatus(prefs.getBoolean(key + PASSED_SUFFIX, false), "$summary (checked at first launch)")
        }
        val result = check()
        prefs.edit().putString(key + SUMMARY_SUFFIX, result.summary()).putBoolean(key + PASSED_SUFFIX, result.passed).apply()
        return GoldenStatus(result.passed, result.summary())
    }

    private companion object {
        const val PREFS = "golden_checks"
        const val SUMMARY_SUFFIX = ".summary"
        const val PASSED_SUFFIX = ".passed"
    }
}
