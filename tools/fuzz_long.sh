#!/usr/bin/env bash
# The longer documented fuzz run of load -> preprocess -> upscale (fsr_edge.hardening.fuzz_pipeline).
#
#   tools/fuzz_long.sh [SECONDS=1200] [SEED=random] [OUT=docs/results/fuzz_long.json]
#
# Writes the counts (inputs tried, refused, decoded, upscaled, crashes, hangs) to OUT, which `fsr-edge selfcheck`
# shows next to its own bounded run. Crashing/hanging inputs are kept under $FUZZ_WORKDIR/crashes (default
# /tmp/fsr-edge-fuzz-long) to reproduce with `python -c "from fsr_edge.io import read_image; read_image('FILE')"`.
# A hang inside C code that Python's timer cannot interrupt ends the process through faulthandler (stack dump
# on stderr); a run past SECONDS + 10 minutes is killed by `timeout`. Either way OUT records "ok": false.
set -uo pipefail
cd "$(dirname "$0")/.."
SECONDS_BUDGET="${1:-1200}"
SEED="${2:-$(( $(date +%s) % 100000 ))}"
OUT="${3:-docs/results/fuzz_long.json}"
WORKDIR="${FUZZ_WORKDIR:-/tmp/fsr-edge-fuzz-long}"
mkdir -p "$WORKDIR"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
PY="${PYTHON:-python}"
[ -z "${VIRTUAL_ENV:-}" ] && [ -x .venv/bin/python ] && PY=.venv/bin/python   # the README's venv when not active
timeout $(( ${SECONDS_BUDGET%.*} + 600 )) nice -n 5 "$PY" - "$SECONDS_BUDGET" "$SEED" "$OUT" "$WORKDIR" <<'PY'
import datetime, json, platform, sys
from pathlib import Path
from fsr_edge.hardening import fuzz_pipeline
from fsr_edge.io import atomic_write_json

seconds, seed, out, workdir = float(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
result = fuzz_pipeline(seconds=seconds, seed=seed, per_input_timeout=20.0, workdir=workdir, progress=True)
result.update(date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              command=f"tools/fuzz_long.sh {seconds:g} {seed}", machine=platform.platform())
atomic_write_json(out, result, indent=1)
print(json.dumps({k: v for k, v in result.items() if k != "problems"}, indent=1))
sys.exit(0 if result["ok"] else 1)
PY
rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then   # killed by timeout (124) or faulthandler: a hang
  "$PY" - "$OUT" "$rc" "$SEED" <<'PY'
import sys
from fsr_edge.io import atomic_write_json
out, rc, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
atomic_write_json(out, {"tried": None, "refused": None, "crashes": None, "hangs": 1, "ok": False, "seed": seed,
                        "problems": [f"the fuzz process did not finish (exit {rc}): a hang in native code"]}, indent=1)
PY
fi
exit "$rc"
