package org.fsredge.demo.core

/** The four points FFHQ alignment needs, named by where they appear in the image (not the subject's side). */
data class FaceLandmarks(val eyeLeft: Point, val eyeRight: Point, val mouthLeft: Point, val mouthRight: Point) {
    fun quad(): FaceQuad = FaceQuad.fromLandmarks(eyeLeft, eyeRight, mouthLeft, mouthRight)

    companion object {
        /**
         * From detector landmarks named by the subject's side (ML Kit, MediaPipe): in an unmirrored picture the
         * subject's right eye is on the image's left, in a mirrored one (a front camera preview) it is not. The
         * pair order is chosen so the eye line and the eye-to-mouth axis turn like the training faces' do (mouth
         * below the eyes in image coordinates, y down), which holds for both.
         */
        fun fromSubjectSides(subjectLeftEye: Point, subjectRightEye: Point, subjectLeftMouth: Point,
                             subjectRightMouth: Point): FaceLandmarks {
            val unmirrored = FaceLandmarks(subjectRightEye, subjectLeftEye, subjectRightMouth, subjectLeftMouth)
            val eyeToEye = unmirrored.eyeRight - unmirrored.eyeLeft
            val eyeToMouth = (unmirrored.mouthLeft + unmirrored.mouthRight) * 0.5 -
                (unmirrored.eyeLeft + unmirrored.eyeRight) * 0.5
            val turn = eyeToEye.x * eyeToMouth.y - eyeToEye.y * eyeToMouth.x
            return if (turn >= 0) unmirrored
            else FaceLandmarks(subjectLeftEye, subjectRightEye, subjectLeftMouth, subjectRightMouth)
        }
    }
}

/** Runs the student on one input tensor (flat `(1, 3, h, w)`) and returns its flat output. */
fun interface StudentRunner {
    fun run(input: FloatArray): FloatArray
}

/** Per-frame wall time of each stage, milliseconds (align includes pre-processing, paste includes post-processing). */
data class StageTimes(val detectMs: Double, val alignMs: Double, val inferMs: Double, val pasteMs: Double) {
    val totalMs: Double get() = detectMs + alignMs + inferMs + pasteMs
}

/** [before]: each face's LR crop upscaled bilinearly and pasted; [after]: the student's output pasted. */
class RestoredFrame(val before: ArgbImage, val after: ArgbImage, val faces: Int, val times: StageTimes)

/**
 * Frame + landmarks -> before/after frames. Every face is aligned to the student's input contract (size, channel
 * order and value range from the manifest), restored, and pasted back along its own alignment square.
 */
class FaceRestorer(private val artifact: ManifestArtifact, private val runner: StudentRunner) {
    private val lrSize = artifact.input.width
    private val srSize = artifact.output.width
    private val scale = srSize / lrSize

    init {
        if (artifact.input.width != artifact.input.height || artifact.output.width != artifact.output.height ||
            srSize % lrSize != 0
        ) {
            throw ManifestException(
                "artifact ${artifact.id}: face crops are square with an integer scale, got input " +
                    "${artifact.input.shape} and output ${artifact.output.shape}",
            )
        }
    }

    /** The aligned LR face the student sees: warped at the output size, then box-averaged down by the scale. */
    fun alignedLrFace(frame: ArgbImage, face: FaceLandmarks): ArgbImage =
        boxDownsample(warpToCrop(frame, face.quad().cropToImage(srSize), srSize), scale)

    fun restore(frame: ArgbImage, faces: List<FaceLandmarks>, detectMs: Double): RestoredFrame {
        val before = frame.copy()
        val after = frame.copy()
        var alignNs = 0L
        var inferNs = 0L
        var pasteNs = 0L
        for (face in faces) {
            var t = System.nanoTime()
            val quad = face.quad()
            val lrFace = alignedLrFace(frame, face)
            val input = preprocessArgb(lrFace.pixels, lrFace.width, lrFace.height, artifact.input)
            alignNs += System.nanoTime() - t

            t = System.nanoTime()
            val output = runner.run(input)
            inferNs += System.nanoTime() - t

            t = System.nanoTime()
            val srFace = postprocessToArgb(output, artifact.output)
            pasteCrop(after, srFace, quad.cropToImage(srSize))
            pasteNs += System.nanoTime() - t
            // The "before" side is display-only and stays out of the timed stages.
            pasteCrop(before, resizeBilinear(lrFace, srSize), quad.cropToImage(srSize))
        }
        val ms = 1e-6
        return RestoredFrame(before, after, faces.size, StageTimes(detectMs, alignNs * ms, inferNs * ms, pasteNs * ms))
    }
}

/** Bilinear resize of a square image (the "before" view: what plain upscaling of the LR face gives). */
fun resizeBilinear(src: ArgbImage, size: Int): ArgbImage {
    val sx = src.width.toDouble() / size
    val sy = src.height.toDouble() / size
    // Pixel centres on integers: output u samples input (u + 0.5) * s - 0.5 (align_corners=False).
    return warpToCrop(src, Affine(sx, 0.0, 0.5 * sx - 0.5, 0.0, sy, 0.5 * sy - 0.5), size)
}
