#!/usr/bin/env bash
# TensorRT on a single-GPU machine: build the fp16 and INT8 engines of a bundled student from the exported ONNX,
# verify them against the fp32 PyTorch student under the export gates, and time them with the bench harness.
#
#   tools/gpu_check_tensorrt.sh [MODEL=default] [OUT=${OUT:-/tmp/trt_check}] [FACES]
#
# Writes OUT/dist/manifest.json (verification per subset), OUT/dist/summary.md, OUT/bench/bench.json and
# OUT/bench/report.md (TensorRT rows beside the CPU rows). Needs an NVIDIA GPU with its driver; installs a CUDA
# build of torch and TensorRT from PyPI into its own venv (a few GB). Meant to finish in under 10 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL="${1:-}"
OUT="${2:-${OUT:-/tmp/trt_check}}"
FACES="${3:-}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
python3 -m venv "$OUT/venv" && . "$OUT/venv/bin/activate"
# A CUDA torch (the CPU wheel cannot drive the engine's buffers), TensorRT's Python package, the project.
pip install -q torch==2.14.1 tensorrt 2>&1 | tail -2
pip install -q -e ".[onnx,openvino,executorch]" 2>&1 | tail -2
python - <<'PY'
import tensorrt, torch
print(f"torch {torch.__version__} cuda {torch.cuda.is_available()} ({torch.cuda.get_device_name(0)}), TensorRT {tensorrt.__version__}")
PY
ARGS=(--targets tensorrt,onnx --precision fp16,fp32,int8 -o "$OUT/dist" --overwrite)
[ -n "$MODEL" ] && ARGS+=(--model "$MODEL")
if [ -n "$FACES" ]; then ARGS+=(--faces "$FACES"); else ARGS+=(--builtin-faces); fi
set +e
timeout 420 fsr-edge export "${ARGS[@]}"
EXPORT_RC=$?
timeout 150 fsr-edge bench "$OUT/dist" -o "$OUT/bench" --quick --no-photo-pipeline
BENCH_RC=$?
set -e
echo "export rc=$EXPORT_RC bench rc=$BENCH_RC; manifest: $OUT/dist/manifest.json, report: $OUT/bench/report.md"
exit $(( EXPORT_RC || BENCH_RC ))
