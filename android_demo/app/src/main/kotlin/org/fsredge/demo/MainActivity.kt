package org.fsredge.demo

import android.Manifest.permission.CAMERA
import android.content.Intent
import android.content.pm.PackageManager
import android.graphics.Color
import android.os.Bundle
import android.os.SystemClock
import android.util.Log
import android.widget.Button
import android.widget.ImageView
import android.widget.TextView
import androidx.activity.result.contract.ActivityResultContracts
import androidx.appcompat.app.AppCompatActivity
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import androidx.camera.core.Preview
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import androidx.lifecycle.lifecycleScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.fsredge.demo.core.FaceRestorer
import org.fsredge.demo.core.RestoredFrame
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * Camera -> ML Kit face landmarks -> FFHQ-aligned LR face -> student (ExecuTorch) -> pasted back, shown next to
 * the same face upscaled bilinearly, with each stage's time. On first launch (per artifact) it runs the manifest's
 * golden input and shows whether the output matches the export.
 */
class MainActivity : AppCompatActivity() {
    private lateinit var beforeView: ImageView
    private lateinit var afterView: ImageView
    private lateinit var statusView: TextView
    private lateinit var timesView: TextView
    private lateinit var previewView: PreviewView

    private val analysisExecutor: ExecutorService = Executors.newSingleThreadExecutor()
    @Volatile private var restorer: FaceRestorer? = null
    private var student: ExecuTorchStudent? = null
    private var faces: MlKitFaces? = null
    private val averages = StageAverages()

    private val requestCamera = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (granted) startCamera() else timesView.setText(R.string.camera_permission_denied)
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        beforeView = findViewById(R.id.before_image)
        afterView = findViewById(R.id.after_image)
        statusView = findViewById(R.id.golden_status)
        timesView = findViewById(R.id.stage_times)
        previewView = findViewById(R.id.preview)
        findViewById<Button>(R.id.open_benchmark).setOnClickListener {
            startActivity(Intent(this, BenchmarkActivity::class.java))
        }
        lifecycleScope.launch { loadStudent() }
    }

    private suspend fun loadStudent() {
        val outcome = withContext(Dispatchers.Default) {
            runCatching {
                val assets = StudentAssets.open(this@MainActivity)
                val artifact = assets.artifact()
                val runner = ExecuTorchStudent(assets.modelFile(artifact).path, artifact)
                runner.loadForward()
                val golden = GoldenOnFirstLaunch(this@MainActivity).resultFor(artifact) { runner.checkGolden(assets) }
                Triple(runner, FaceRestorer(artifact, runner), golden)
            }
        }
        outcome.onSuccess { (runner, faceRestorer, golden) ->
            student = runner
            restorer = faceRestorer
            statusView.text = golden.text
            statusView.setTextColor(if (golden.passed) Color.rgb(0, 128, 0) else Color.RED)
            if (ContextCompat.checkSelfPermission(this, CAMERA) == PackageManager.PERMISSION_GRANTED) startCamera()
            else requestCamera.launch(CAMERA)
        }.onFailure { err ->
            statusView.text = "Cannot run the student: ${err.message}"
            statusView.setTextColor(Color.RED)
        }
    }

    private fun startCamera() {
        faces = faces ?: MlKitFaces()
        val providerFuture = ProcessCameraProvider.getInstance(this)
        providerFuture.addListener({
            val provider = providerFuture.get()
            val preview = Preview.Builder().build().also { it.setSurfaceProvider(previewView.surfaceProvider) }
            val analysis = ImageAnalysis.Builder()
                .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                .build()
            analysis.setAnalyzer(analysisExecutor, ::analyze)
            val camera = if (provider.hasCamera(CameraSelector.DEFAULT_FRONT_CAMERA)) {
                CameraSelector.DEFAULT_FRONT_CAMERA
            } else {
                CameraSelector.DEFAULT_BACK_CAMERA
            }
            provider.unbindAll()
            provider.bindToLifecycle(this, camera, preview, analysis)
        }, ContextCompat.getMainExecutor(this))
    }

    private fun analyze(proxy: ImageProxy) {
        val faceRestorer = restorer
        val detector = faces
        if (faceRestorer == null || detector == null) {
            proxy.close()
            return
        }
        val upright = proxy.use { it.toBitmap().rotated(it.imageInfo.rotationDegrees) }
        // One bad frame (a detector or runtime error) is reported and skipped; the next frame tries again.
        runCatching {
            val t0 = SystemClock.elapsedRealtimeNanos()
            val landmarks = detector.detect(upright)
            val detectMs = (SystemClock.elapsedRealtimeNanos() - t0) / 1e6
            val frame = faceRestorer.restore(upright.toArgbImage(), landmarks, detectMs)
            Triple(frame, frame.before.toBitmap(), frame.after.toBitmap())
        }.onSuccess { (frame, before, after) ->
            runOnUiThread { show(frame, before, after) }
        }.onFailure { err ->
            Log.w(TAG, "frame skipped", err)
            runOnUiThread { timesView.text = "frame skipped: ${err.message}" }
        }
    }

    private fun show(frame: RestoredFrame, before: android.graphics.Bitmap, after: android.graphics.Bitmap) {
        beforeView.setImageBitmap(before)
        afterView.setImageBitmap(after)
        timesView.text = averages.add(frame)
    }

    override fun onDestroy() {
        super.onDestroy()
        analysisExecutor.shutdown()
        faces?.close()
        student?.close()
    }
}

private const val TAG = "fsr_edge"

/** Running means of the stage times over the last frames: one frame's numbers jitter too much to read. */
private class StageAverages(private val window: Int = 30) {
    private val history = ArrayDeque<RestoredFrame>()

    fun add(frame: RestoredFrame): String {
        history.addLast(frame)
        if (history.size > window) history.removeFirst()
        fun mean(sel: (RestoredFrame) -> Double) = history.sumOf(sel) / history.size
        return "faces %d   (mean of %d frames)\ndetect %6.1f ms\nalign  %6.1f ms\ninfer  %6.1f ms\npaste  %6.1f ms\ntotal  %6.1f ms"
            .format(frame.faces, history.size, mean { it.times.detectMs }, mean { it.times.alignMs },
                mean { it.times.inferMs }, mean { it.times.pasteMs }, mean { it.times.totalMs })
    }
}
