package org.fsredge.demo

import android.content.Context
import org.fsredge.demo.core.BenchReport
import org.fsredge.demo.core.Manifest
import org.fsredge.demo.core.ManifestArtifact
import org.fsredge.demo.core.ManifestException
import org.fsredge.demo.core.readFloat32Le
import org.json.JSONObject
import java.io.File
import java.io.FileNotFoundException
import java.io.InputStream
import java.security.MessageDigest

/**
 * The export as `fsr_edge.android.install_artifacts` put it into `assets/`: manifest.json, the .pte programs and
 * their golden vectors, at the relative paths the manifest names. Everything the app knows about the model
 * (tensor shapes, channel order, value range, PSNR threshold) is read from here.
 */
class StudentAssets private constructor(
    private val context: Context,
    val manifestJson: JSONObject,
    val manifest: Manifest,
) {
    /** The artifact to run: [id] if given, else the first ExecuTorch artifact of the manifest. */
    fun artifact(id: String? = null): ManifestArtifact {
        val candidates = manifest.executorchArtifacts
        if (candidates.isEmpty()) throw ManifestException("manifest.json lists no executorch artifact: export with --targets executorch")
        return if (id == null) candidates.first()
        else candidates.firstOrNull { it.id == id } ?: throw ManifestException("no executorch artifact '$id' in manifest.json")
    }

    /**
     * ExecuTorch's Module loads from a file path, not an asset stream: the .pte is copied once into the app's
     * files folder under a name that carries its sha256, and the copy is verified against the manifest.
     */
    fun modelFile(artifact: ManifestArtifact): File {
        val relative = requireNotNull(artifact.file) { "${artifact.id} has no file (not exported)" }
        val dir = File(context.filesDir, "models").apply { mkdirs() }
        val target = File(dir, "${artifact.sha256.take(16)}-${File(relative).name}")
        if (target.isFile) return target
        val tmp = File(dir, "${target.name}.tmp")
        val digest = MessageDigest.getInstance("SHA-256")
        openAsset(relative).use { input ->
            tmp.outputStream().use { out -> copyHashing(input, out::write, digest) }
        }
        val actual = digest.digest().joinToString("") { "%02x".format(it) }
        if (artifact.sha256.isNotEmpty() && actual != artifact.sha256) {
            tmp.delete()
            throw ManifestException(
                "assets/$relative: sha256 $actual differs from manifest.json; re-run the install step and rebuild",
            )
        }
        if (!tmp.renameTo(target)) throw ManifestException("cannot write ${target.path}")
        return target
    }

    /** A raw little-endian float32 file of the export (golden vectors). */
    fun readFloats(relativePath: String): FloatArray = openAsset(relativePath).use { readFloat32Le(it.readBytes()) }

    private fun openAsset(relativePath: String): InputStream = try {
        context.assets.open(relativePath)
    } catch (e: FileNotFoundException) {
        throw ManifestException("assets/$relativePath is listed in manifest.json but missing: re-run the install step")
    }

    private fun copyHashing(input: InputStream, write: (ByteArray, Int, Int) -> Unit, digest: MessageDigest) {
        val buf = ByteArray(1 shl 16)
        while (true) {
            val n = input.read(buf)
            if (n < 0) break
            digest.update(buf, 0, n)
            write(buf, 0, n)
        }
    }

    companion object {
        fun open(context: Context): StudentAssets {
            val text = try {
                context.assets.open(BenchReport.MANIFEST_ASSET).bufferedReader().use { it.readText() }
            } catch (e: FileNotFoundException) {
                throw ManifestException(
                    "no manifest.json in the app's assets: run `fsr-edge export ... --android-demo android_demo/` " +
                        "(see android_demo/README.md) and rebuild",
                )
            }
            val manifest = Manifest.parse(text)
            return StudentAssets(context.applicationContext, JSONObject(text), manifest)
        }
    }
}
