"""Measurements behind the compression/export choices (writes Markdown + JSON under docs/results/).

    python -m research.export_study int8        --model M [--faces F] -o docs/results/export_int8
    python -m research.export_study calibration --model M  --faces F  -o docs/results/export_calibration
    python -m research.export_study prune       --model M  --faces F  -o docs/results/export_prune
    python -m research.export_study dist        --dist dist               -o docs/results/export_table_latency

Timings: every variant of one table runs in ONE process, interleaved round by round (A B C A B C ...), and the
table reports medians and ratios: on a shared machine absolute milliseconds drift, ratios measured back to
back hold. Threads: ``--threads`` (default 1) for every runtime.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from fsr_edge.exporters.artifact import Precision


def interleaved_ms(runners: dict[str, Callable[[], object]], *, rounds: int = 15, reps: int = 10,
                   warmup: int = 10) -> dict[str, float]:
    """Median milliseconds per call of each runner, measured round-robin so drift hits all alike."""
    for fn in runners.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(rounds):
        for k, fn in runners.items():
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            samples[k].append((time.perf_counter() - t0) / reps * 1e3)
    return {k: float(np.median(v)) for k, v in samples.items()}


def _eval(faces: Path | None, model) -> "EvalSet":
    from fsr_edge.exporters.verify import EvalSet

    hr = model.lr_size * model.scale
    if faces is not None:
        return EvalSet.from_faces(faces, split="val", scale=model.scale, hr_size=hr)
    return EvalSet.builtin(scale=model.scale, hr_size=hr)


def _calib(faces: Path | None, model, size: int):
    from fsr_edge.calibration import builtin_calibration_set, select_calibration_set

    hr = model.lr_size * model.scale
    if faces is not None:
        return select_calibration_set(faces, size=size, scale=model.scale, hr_size=hr)
    return builtin_calibration_set(size=size, scale=model.scale, hr_size=hr)


def _val(run: Callable[[np.ndarray], np.ndarray], eval_set) -> float:
    from fsr_edge.exporters.verify import val_psnr

    return val_psnr([run(x) for x in eval_set.lr_faces], eval_set)


def study_int8(model, faces: Path | None, out: Path, *, threads: int = 1) -> dict:
    """fp32 vs INT8 per runtime, back to back; OpenVINO per-op profile; the quantization choices."""
    import openvino as ov

    from fsr_edge.exporters import executorch as etx
    from fsr_edge.exporters import onnx as ox
    from fsr_edge.exporters import openvino as ovx
    from fsr_edge.exporters.quantize import quantize_ptq

    work = out.parent / f".{out.name}-work"
    x = torch.from_numpy(_eval(faces, model).lr_faces[0])
    xn = x.numpy()
    calib = _calib(faces, model, 32)
    eval_set = _eval(faces, model)
    from fsr_edge.exporters.quantize import skip_path_scope

    q_default = quantize_ptq(model, calib)
    q_float_skip = quantize_ptq(model, calib, ignored_scope=skip_path_scope(model))
    core = ov.Core()
    cfg = {"INFERENCE_NUM_THREADS": str(threads)}

    def ov_req(m, hint):
        return core.compile_model(m, "CPU", {**cfg, "INFERENCE_PRECISION_HINT": hint}).create_infer_request()

    f32_onnx = ox.export(model, x, work, precision=Precision.FP32, name="fp32")
    i8_onnx = ox.export(model, x, work, precision=Precision.INT8, quantized_model=q_default, name="int8")
    i8skip_onnx = ox.export(model, x, work, precision=Precision.INT8, quantized_model=q_float_skip, name="int8skip")
    ov_torch_f32 = ov.convert_model(model, example_input=x)
    ov_torch_i8 = ov.convert_model(ox.strip_to_qdq(q_default, x), example_input=x)
    reqs = {
        "OpenVINO fp32 (f32 hint), ONNX frontend": ov_req(str(f32_onnx.file), "f32"),
        "OpenVINO fp32 model run as bf16 (CPU default here)": ov_req(str(f32_onnx.file), "bf16"),
        "OpenVINO INT8, ONNX frontend (shipped)": ov_req(str(i8_onnx.file), "f32"),
        "OpenVINO INT8, output add + skip kept float": ov_req(str(i8skip_onnx.file), "f32"),
        "OpenVINO fp32, torch frontend": ov_req(ov_torch_f32, "f32"),
        "OpenVINO INT8, torch frontend": ov_req(ov_torch_i8, "f32"),
    }
    ov_times = interleaved_ms({k: (lambda r=r: r.infer([xn])) for k, r in reqs.items()})

    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    ort_sess = {"ORT fp32": ort.InferenceSession(str(f32_onnx.file), so, providers=["CPUExecutionProvider"]),
                "ORT INT8 Q/DQ": ort.InferenceSession(str(i8_onnx.file), so, providers=["CPUExecutionProvider"]),
                "ORT INT8 Q/DQ, output add + skip kept float": ort.InferenceSession(str(i8skip_onnx.file), so,
                                                                                    providers=["CPUExecutionProvider"])}
    ort_times = interleaved_ms({k: (lambda s=s: s.run(None, {"lr_face": xn})) for k, s in ort_sess.items()})

    torch.set_num_threads(threads)
    et = {p: etx.export(model, x, work, precision=p, calibration=calib, name=f"et_{p.value}")
          for p in (Precision.FP32, Precision.INT8)}
    et_run = {f"ExecuTorch XNNPACK {p.value}": etx.load_runner(a) for p, a in et.items()}
    with torch.no_grad():
        eager = {"PyTorch eager fp32": lambda: model(x)}
        et_times = interleaved_ms({**eager, **{k: (lambda r=r: r(xn)) for k, r in et_run.items()}})

    # quality of each quantization variant, in the runtime that ships it
    quality = {
        "fp32 (PyTorch)": _val(lambda a: model(torch.from_numpy(a)).detach().numpy(), eval_set),
        "ORT INT8 (shipped: NNCF default placement)": _val(ox.load_runner(i8_onnx), eval_set),
        "ORT INT8 (output add + skip kept float)": _val(ox.load_runner(i8skip_onnx), eval_set),
        "OpenVINO INT8 (shipped)": _val(ovx.load_runner(_fake_art(i8_onnx.file)), eval_set),
        "ExecuTorch INT8 (PT2E)": _val(et_run["ExecuTorch XNNPACK int8"], eval_set),
    }
    profile = _ov_profile(core, {"fp32 f32": (str(f32_onnx.file), "f32"), "int8": (str(i8_onnx.file), "f32"),
                                 "int8 torch frontend": (ov_torch_i8, "f32")}, xn, threads)
    result = {"threads": threads, "input": list(x.shape), "openvino_ms": ov_times, "onnxruntime_ms": ort_times,
              "executorch_ms": et_times, "val_psnr_db": quality, "openvino_profile_top": profile,
              "ort_kernels_int8": ox.ort_kernel_stats(i8_onnx.file)["summary"],
              "executorch_delegation": {p.value: a.delegation["summary"] for p, a in et.items()},
              "cpu_int8_flags": __import__("fsr_edge.exporters.manifest", fromlist=["x"]).machine_info()["cpu_flags_int8"]}
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return result


def _fake_art(path: Path):
    from fsr_edge.exporters.artifact import Artifact, Target

    return Artifact(Target.OPENVINO, Precision.INT8, Path(path), "", (), (), runtime_config={"INFERENCE_PRECISION_HINT": "f32"})


def _ov_profile(core, models: dict, xn: np.ndarray, threads: int, top: int = 8) -> dict:
    out = {}
    for name, (m, hint) in models.items():
        req = core.compile_model(m, "CPU", {"INFERENCE_NUM_THREADS": str(threads), "PERF_COUNT": "YES",
                                            "INFERENCE_PRECISION_HINT": hint}).create_infer_request()
        acc: dict[tuple, float] = {}
        n = 30
        for _ in range(n):
            req.infer([xn])
            for p in req.profiling_info:
                if p.status == p.Status.EXECUTED:
                    key = (p.node_type, p.exec_type, p.node_name[-48:])
                    acc[key] = acc.get(key, 0.0) + p.real_time.total_seconds() * 1e3 / n
        total = sum(acc.values())
        rows = sorted(acc.items(), key=lambda kv: -kv[1])[:top]
        by_type: dict[str, float] = {}
        for (t, _, _), v in acc.items():
            by_type[t] = by_type.get(t, 0.0) + v
        out[name] = {"total_ms": round(total, 3),
                     "by_type_ms": {k: round(v, 3) for k, v in sorted(by_type.items(), key=lambda kv: -kv[1])},
                     "top": [{"type": t, "exec": e, "node": nm, "ms": round(v, 3)} for (t, e, nm), v in rows]}
    return out


def study_calibration(model, faces: Path, out: Path, *, sizes=(8, 32, 128)) -> dict:
    """INT8 (ONNX Q/DQ in ONNX Runtime) val PSNR vs calibration set size, plus the built-in (no face data) set."""
    from fsr_edge.exporters import onnx as ox
    from fsr_edge.exporters.quantize import quantize_ptq

    eval_set = _eval(faces, model)
    x = torch.from_numpy(eval_set.lr_faces[0])
    fp32 = _val(lambda a: model(torch.from_numpy(a)).detach().numpy(), eval_set)
    rows = []
    work = out.parent / f".{out.name}-work"
    for size in (*sizes, "builtin-8"):
        calib = _calib(faces, model, size) if isinstance(size, int) else _calib(None, model, 8)
        t0 = time.perf_counter()
        q = quantize_ptq(model, calib)
        seconds = time.perf_counter() - t0
        art = ox.export(model, x, work, precision=Precision.INT8, quantized_model=q, name=f"c{size}")
        v = _val(ox.load_runner(art), eval_set)
        rows.append({"size": size, "identities": len({it.identity for it in calib.items}), "val_psnr_db": v,
                     "drop_db": fp32 - v, "ptq_seconds": seconds})
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return {"fp32_val_psnr_db": fp32, "faces": eval_set.source, "rows": rows}


def study_prune(model, faces: Path | None, out: Path, *, ratios=(0.25, 0.5), finetune_steps: int = 60,
                threads: int = 1) -> dict:
    """Structured (channels removed, brief distillation fine-tune) and magnitude pruning: quality, size, speed.
    EdgeSR and FSRCNN go through ``prune_channels`` (the result reloads by name), any other student through
    torch-pruning (``prune_structured``, widths rounded to multiples of 16). With a face folder, the wild split is
    scored beside val."""
    import onnxruntime as ort

    from fsr_edge.profile import count_macs, count_params

    from fsr_edge.exporters import onnx as ox
    from fsr_edge.exporters.finetune import distill_finetune
    from fsr_edge.exporters.prune import magnitude_prune, prune_channels, prune_structured, sparsity
    from fsr_edge.exporters.verify import EvalSet
    from fsr_edge.models import FSRCNN, EdgeSR

    def prune(r: float):
        if isinstance(model, (EdgeSR, FSRCNN)):
            return prune_channels(model, ratio=r)
        return prune_structured(model, ratio=r, multiple=16), None

    eval_set = _eval(faces, model)
    wild_set = (EvalSet.from_faces(faces, split="wild", scale=model.scale, hr_size=model.lr_size * model.scale)
                if faces is not None else None)
    calib = _calib(faces, model, 32)
    lr_faces, hr_faces = calib.lr_faces(), calib.hr_faces()
    x = torch.from_numpy(eval_set.lr_faces[0])
    shape = (1, 3, model.lr_size, model.lr_size)
    variants = {"dense": model}
    notes = {}
    for r in ratios:
        pruned, kwargs = prune(r)
        variants[f"channels -{int(r * 100)}% (no fine-tune)"] = pruned
        tuned, _ = prune(r)
        tuned.requires_grad_(True)   # the dense model was frozen as the previous ratio's teacher
        stats = distill_finetune(tuned, teacher=model, lr_faces=lr_faces, hr_faces=hr_faces, steps=finetune_steps,
                                 lr=3e-4, batch_size=8, progress=True, desc=f"prune {r}")
        variants[f"channels -{int(r * 100)}% + {finetune_steps}-step distill"] = tuned
        notes[f"channels -{int(r * 100)}%"] = {"kwargs": kwargs, "finetune": stats}
    variants["magnitude 50% (NNCF)"] = magnitude_prune(model, ratio=0.5, example_input=x)
    work = out.parent / f".{out.name}-work"
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    rows, sessions = [], {}
    for i, (name, m) in enumerate(variants.items()):
        art = ox.export(m, x, work, precision=Precision.FP32, name=f"v{i}")
        data = art.file.read_bytes()
        sessions[name] = ort.InferenceSession(str(art.file), so, providers=["CPUExecutionProvider"])
        rows.append({"variant": name, "params": count_params(m), "macs": count_macs(m, shape),
                     "sparsity": round(sparsity(m), 3), "onnx_bytes": len(data), "onnx_gzip_bytes": len(gzip.compress(data)),
                     "val_psnr_db": _val(lambda a, m=m: m(torch.from_numpy(a)).detach().numpy(), eval_set),
                     "wild_psnr_db": (_val(lambda a, m=m: m(torch.from_numpy(a)).detach().numpy(), wild_set)
                                      if wild_set is not None else None)})
    xn = x.numpy()
    times = interleaved_ms({k: (lambda s=s: s.run(None, {"lr_face": xn})) for k, s in sessions.items()})
    for r in rows:
        r["ort_ms"] = times[r["variant"]]
        r["ort_speedup_vs_dense"] = times["dense"] / times[r["variant"]]
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return {"faces": eval_set.source, "threads": threads, "rows": rows, "notes": notes}


def study_dist_latency(dist: Path, *, threads: int = 1) -> dict:
    """fp32 vs INT8 latency of the artifacts in an export folder (ONNX Runtime, OpenVINO f32 hint, ExecuTorch)."""
    import onnxruntime as ort
    import openvino as ov

    from fsr_edge.safety import load_executorch_method

    from fsr_edge.exporters.manifest import load_manifest, read_golden

    manifest = load_manifest(dist)
    core = ov.Core()
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    torch.set_num_threads(threads)
    runners = {}
    for a in manifest["artifacts"]:
        if not a["file"] or a["verification"]["status"] == "failed":
            continue
        f = str(Path(dist) / a["file"])
        x = read_golden(dist, a["golden"]["input"])
        if a["target"] == "onnx":
            s = ort.InferenceSession(f, so, providers=["CPUExecutionProvider"])
            runners[a["id"]] = lambda s=s, x=x: s.run(None, {"lr_face": x})
        elif a["target"] == "openvino":
            r = core.compile_model(f, "CPU", {"INFERENCE_NUM_THREADS": str(threads),
                                              **{k: v for k, v in a["runtime_config"].items() if k != "device"}})
            req = r.create_infer_request()
            runners[a["id"]] = lambda req=req, x=x: req.infer([x])
        elif a["target"] == "executorch":
            method, xt = load_executorch_method(f), torch.from_numpy(x)
            runners[a["id"]] = lambda method=method, xt=xt: method.execute([xt])
    ms = interleaved_ms(runners)
    ratios = {}
    for k in ms:
        if "-int8-" in k and k.replace("-int8-", "-fp32-") in ms:
            ratios[k.split("-")[0]] = ms[k] / ms[k.replace("-int8-", "-fp32-")]
    return {"dist": str(dist), "model_name": manifest["model"]["name"], "threads": threads, "ms": ms,
            "int8_over_fp32": ratios}


def main(argv: list[str] | None = None) -> int:
    from fsr_edge.models import load_model

    from fsr_edge.exporters._files import atomic_write_json

    p = argparse.ArgumentParser(prog="python -m research.export_study", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["int8", "calibration", "prune", "dist"])
    p.add_argument("--model", help="student (int8, calibration, prune)")
    p.add_argument("--dist", type=Path, help="export folder (dist): fp32 vs INT8 latency of its artifacts")
    p.add_argument("--faces", type=Path, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ratios", default="0.25,0.5", help="prune: channel fractions removed (comma list)")
    p.add_argument("--finetune-steps", type=int, default=60, help="prune: distillation steps after pruning")
    p.add_argument("-o", "--output", type=Path, required=True, help="path stem: writes STEM.json")
    args = p.parse_args(argv)
    if args.what == "dist":
        result = study_dist_latency(args.dist, threads=args.threads)
        atomic_write_json(args.output.with_suffix(".json"), result)
        print(json.dumps(result, indent=2))
        return 0
    model = load_model(args.model).eval()
    if args.what == "int8":
        result = study_int8(model, args.faces, args.output, threads=args.threads)
    elif args.what == "calibration":
        result = study_calibration(model, args.faces, args.output)
    else:
        result = study_prune(model, args.faces, args.output, threads=args.threads,
                             ratios=tuple(float(r) for r in args.ratios.split(",")), finetune_steps=args.finetune_steps)
    result = {"model": args.model, **result}
    atomic_write_json(args.output.with_suffix(".json"), result, default=float)
    print(json.dumps(result, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
