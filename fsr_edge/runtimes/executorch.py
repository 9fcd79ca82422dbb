"""ExecuTorch Python runtime (XNNPACK delegate): the .pte is verified before it is loaded (fsr_edge.safety)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import Infer, RuntimeUnavailable, Session


def load(path: str | Path, session: Session) -> tuple[Infer, dict]:
    try:
        import torch
        from executorch.extension.pybindings import portable_lib
        from executorch.runtime import Runtime
    except ImportError as err:
        raise RuntimeUnavailable(f"executorch is not installed ({err}); pip install 'fsr_edge[executorch]'") from None
    from fsr_edge.safety import load_executorch_method

    threads = session.thread_count()
    if threads:
        portable_lib._unsafe_reset_threadpool(threads)  # XNNPACK's pool: the only thread knob it has
    method = load_executorch_method(path)  # a corrupt .pte is refused, not executed
    info = {"executorch_threads": int(portable_lib._threadpool_get_thread_count()),
            "backends": sorted(Runtime.get().backend_registry.registered_backend_names)}
    return (lambda x: method.execute([torch.from_numpy(np.ascontiguousarray(x))])[0].numpy().copy()), info
