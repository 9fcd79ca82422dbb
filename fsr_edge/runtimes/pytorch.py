"""PyTorch eager: a bundled model name or .safetensors file (the reference student, the teacher, bicubic)."""

from __future__ import annotations

from . import Infer, Session


def load(path: str, session: Session) -> tuple[Infer, dict]:
    import torch

    from fsr_edge.models import load_model

    threads = session.thread_count()
    if threads:
        torch.set_num_threads(threads)
    model = load_model(path)
    # e.g. {"detect_landmarks": true}: a model setting that its weights file does not carry (a training run's
    # teacher was saved with the landmark step off; at inference it is on)
    for name, value in (session.config.get("model_attrs") or {}).items():
        if not hasattr(model, name):
            raise ValueError(f"model_attrs: {type(model).__name__} has no attribute {name!r}")
        setattr(model, name, value)
    device = torch.device(session.device)
    dtype = torch.float16 if session.precision == "fp16" else torch.float32
    model = model.to(device=device, dtype=dtype).eval()
    info = {"torch": torch.__version__, "device": str(device)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        torch.cuda.reset_peak_memory_stats(device)

    @torch.inference_mode()
    def infer(x):
        y = model(torch.from_numpy(x).to(device=device, dtype=dtype))
        return y.float().cpu().numpy()  # .cpu() synchronises CUDA

    return infer, info
