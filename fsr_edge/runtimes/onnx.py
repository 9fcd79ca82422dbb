"""ONNX Runtime: CPU execution provider (CUDA / TensorRT providers first when the session's device is cuda)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import Infer, Session


def load(path: str | Path, session: Session) -> tuple[Infer, dict]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    threads = session.thread_count()
    if threads:
        opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if not session.spin:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = ["CPUExecutionProvider"]
    if session.device == "cuda":
        providers = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider")
                     if p in ort.get_available_providers()] + providers
    sess = ort.InferenceSession(str(path), opts, providers=providers)
    name = sess.get_inputs()[0].name
    info = {"onnxruntime": ort.__version__, "providers": sess.get_providers(), "allow_spinning": session.spin}
    return (lambda x: sess.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]), info
