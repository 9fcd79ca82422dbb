package org.fsredge.demo

import android.graphics.Bitmap
import android.graphics.PointF
import com.google.android.gms.tasks.Tasks
import com.google.mlkit.vision.common.InputImage
import com.google.mlkit.vision.face.FaceDetection
import com.google.mlkit.vision.face.FaceDetectorOptions
import com.google.mlkit.vision.face.FaceLandmark
import org.fsredge.demo.core.FaceLandmarks
import org.fsredge.demo.core.Point
import java.io.Closeable

/**
 * On-device face detection with ML Kit (its model ships with the app, no network at run time). Each face gives the
 * four points FFHQ alignment uses: both eye centres and both mouth corners.
 */
class MlKitFaces : Closeable {
    private val detector = FaceDetection.getClient(
        FaceDetectorOptions.Builder()
            .setPerformanceMode(FaceDetectorOptions.PERFORMANCE_MODE_FAST)
            .setLandmarkMode(FaceDetectorOptions.LANDMARK_MODE_ALL)
            .setMinFaceSize(MIN_FACE_FRACTION)
            .build(),
    )

    /** Blocks until ML Kit answers: call it from the analysis thread, never the main thread. */
    fun detect(upright: Bitmap): List<FaceLandmarks> {
        val faces = Tasks.await(detector.process(InputImage.fromBitmap(upright, 0)))
        return faces.mapNotNull { face ->
            // ML Kit names landmarks by the subject's side; a face without all four is skipped, not guessed.
            val leftEye = face.getLandmark(FaceLandmark.LEFT_EYE)?.position ?: return@mapNotNull null
            val rightEye = face.getLandmark(FaceLandmark.RIGHT_EYE)?.position ?: return@mapNotNull null
            val mouthLeft = face.getLandmark(FaceLandmark.MOUTH_LEFT)?.position ?: return@mapNotNull null
            val mouthRight = face.getLandmark(FaceLandmark.MOUTH_RIGHT)?.position ?: return@mapNotNull null
            FaceLandmarks.fromSubjectSides(leftEye.toPoint(), rightEye.toPoint(), mouthLeft.toPoint(), mouthRight.toPoint())
        }
    }

    override fun close() = detector.close()

    private fun PointF.toPoint() = Point(x.toDouble(), y.toDouble())

    private companion object {
        const val MIN_FACE_FRACTION = 0.1f
    }
}
