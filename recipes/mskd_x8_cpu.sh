#!/usr/bin/env bash
# MSKD x8 on this 2-core CPU, end to end (what produced the bundled mskd-x8 / mskd-teacher-x8):
#   bash recipes/mskd_x8_cpu.sh [FACES_DIR]
# dictionary -> teacher -> edge student w/o KD, MSKD, SSKD (same cached data, steps, seed) -> w/o KD and MSKD
# again with seed 1 -> paper student
# (its decoder on 64 px output windows, like the teacher's: a whole-face step costs ~8 s here).
# Each step is skipped when its output exists; training runs resume from their checkpoints.
set -euo pipefail
FACES=${1:-../shared/data/faces}
train() { fsr-edge train "$@" data.train.root="$FACES" data.val.root="$FACES"; }
[ -f runs/mskd_dict/dict_k8.safetensors ] || fsr-edge build-dictionary --data "$FACES" --split train \
    -o runs/mskd_dict/dict_k8.safetensors --atoms 8 --no-flip --limit 96
[ -f runs/mskd_teacher_x8/final.safetensors ] || train recipes/mskd_teacher_x8.yaml
# run:seed:kd_scales; seed 1 again for the small MSKD vs w/o-KD margin (same cached data)
for job in wokd:0:[] mskd:0:[0,1,2] sskd:0:[2] wokd:1:[] mskd:1:[0,1,2]; do
  IFS=: read -r name seed scales <<< "$job"
  out=runs/mskd_edge_x8_$name$([ "$seed" = 0 ] || echo "_seed$seed")
  [ -f "$out/final.safetensors" ] || train recipes/mskd_edge_x8.yaml seed="$seed" "method.kd_scales=$scales" output_dir="$out"
done
for kd in wokd:[] mskd:[0,1,2]; do
  name=${kd%%:*}
  [ -f runs/mskd_paper_student_x8_$name/final.safetensors ] || \
    train recipes/mskd_edge_x8.yaml model._component_=fsr_edge.models.mskd.mskd_paper_student_x8 \
      model.decoder_channels=[64,32,16] method.kd_scales=${kd#*:} method.hr_crop=64 max_steps=300 output_dir=runs/mskd_paper_student_x8_$name
done
