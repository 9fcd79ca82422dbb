package org.fsredge.demo

import org.fsredge.demo.core.GoldenCheck
import org.fsredge.demo.core.ManifestArtifact
import org.fsredge.demo.core.ManifestException
import org.fsredge.demo.core.StudentRunner
import org.fsredge.demo.core.checkGolden
import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor
import java.io.Closeable

/** The student as an ExecuTorch program: `(1, 3, h, w)` float32 in, `(1, 3, s*h, s*w)` float32 out, per the manifest. */
class ExecuTorchStudent(modelPath: String, private val artifact: ManifestArtifact, threads: Int = 0) :
    StudentRunner, Closeable {
    private val module: Module = Module.load(modelPath, Module.LOAD_MODE_MMAP, threads)
    private val inputShape = artifact.input.shape.map { it.toLong() }.toLongArray()

    /** Loads and plans the method now, so the first frame does not pay for it. */
    fun loadForward() = module.loadMethod(FORWARD)

    override fun run(input: FloatArray): FloatArray {
        if (input.size != artifact.input.numel) {
            throw ManifestException("input of ${input.size} floats, ${artifact.id} expects ${artifact.input.shape}")
        }
        val output = module.forward(EValue.from(Tensor.fromBlob(input, inputShape)))[0].toTensor()
        val shape = output.shape().map { it.toInt() }
        if (shape != artifact.output.shape) {
            throw ManifestException("${artifact.id} returned shape $shape, manifest io.output says ${artifact.output.shape}")
        }
        return output.dataAsFloatArray
    }

    /** The manifest's golden input through this runtime, compared with its golden output. */
    fun checkGolden(assets: StudentAssets): GoldenCheck {
        val inputPath = artifact.goldenInput ?: throw ManifestException("${artifact.id} has no golden vectors: re-export it")
        val outputPath = artifact.goldenOutput ?: throw ManifestException("${artifact.id} has no golden output: re-export it")
        return checkGolden(artifact, assets.readFloats(outputPath), run(assets.readFloats(inputPath)))
    }

    override fun close() = module.destroy()

    private companion object {
        const val FORWARD = "forward"
    }
}
