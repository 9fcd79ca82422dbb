#!/usr/bin/env bash
# MSKD x8 on one GPU, end to end: dictionary -> teacher -> students (w/o KD, SSKD, MSKD), same data/steps/seed.
#   bash research/mskd_x8_gpu.sh [FACES_DIR] [STAGES]        STAGES: any of dict,teacher,edge,paper,edge_seed1
# Writes runs/mskd_*; every run resumes if re-run. Timings: see each run's metrics.csv / summary.json.
set -euo pipefail
FACES=${1:-../shared/data/faces}
STAGES=${2:-dict,teacher,edge}
PY=${PYTHON:-python3}
train() { $PY -m fsr_edge.cli train "$@" data.train.dataset.root="$FACES" data.val.root="$FACES"; }
has() { [[ ",$STAGES," == *",$1,"* ]]; }

if has dict; then
  mkdir -p runs/mskd_dict
  $PY -m fsr_edge.cli build-dictionary --data "$FACES" --split train -o runs/mskd_dict/dict_k8.safetensors \
      --atoms 8 --device cuda --overwrite
fi
has teacher && train recipes/mskd_teacher_x8_gpu.yaml
for student in edge paper; do
  has $student || continue
  cfg=recipes/mskd_${student/paper/paper_student}_x8_gpu.yaml
  name=mskd_${student/paper/paper_student}_x8
  train $cfg method.kd_scales=[] output_dir=runs/${name}_wokd_gpu
  train $cfg method.kd_scales=[2] output_dir=runs/${name}_sskd_gpu
  train $cfg method.kd_scales=[0,1,2] output_dir=runs/${name}_mskd_gpu
done
if has edge_seed1; then   # a second seed where the margins are small
  train recipes/mskd_edge_x8_gpu.yaml seed=1 method.kd_scales=[] output_dir=runs/mskd_edge_x8_wokd_gpu_s1
  train recipes/mskd_edge_x8_gpu.yaml seed=1 method.kd_scales=[0,1,2] output_dir=runs/mskd_edge_x8_mskd_gpu_s1
fi
