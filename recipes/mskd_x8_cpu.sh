#!/usr/bin/env bash
# MSKD x8 on this 2-core CPU, end to end (what produced the bundled mskd-x8 / mskd-teacher-x8):
#   bash recipes/mskd_x8_cpu.sh [FACES_DIR]
# dictionary -> teacher (stage 1: 64 px windows, 50 % blind, one fixed view per face; stage 2: from stage 1, 128 px
# windows, 25 % blind, 4 cached jittered views per face) -> edge student w/o KD, MSKD, SSKD (same cached data:
# one fixed view per face, 25 % blind; same steps and seed) -> w/o KD and MSKD again with seed 1 -> paper student
# likewise (its decoder on 128 px output windows, like the teacher's stage 2: a whole-face step costs ~3 s here).
# Each step is skipped when its output exists; training runs resume from their checkpoints.
set -euo pipefail
FACES=${1:-../shared/data/faces}
train() { fsr-edge train "$@" data.train.root="$FACES" data.val.root="$FACES"; }
[ -f runs/mskd_dict/dict_k8.safetensors ] || fsr-edge build-dictionary --data "$FACES" --split train \
    -o runs/mskd_dict/dict_k8.safetensors --atoms 8 --no-flip --limit 96
[ -f runs/mskd_teacher_x8/final.safetensors ] || train recipes/mskd_teacher_x8.yaml
[ -f runs/mskd_teacher_x8_stage2/final.safetensors ] || train recipes/mskd_teacher_x8_stage2.yaml
# student:run:seed:kd_scales; seed 1 again where the MSKD vs w/o-KD margin is small (same cached data)
paper="model._component_=fsr_edge.models.mskd.mskd_paper_student_x8 model.decoder_channels=[64,32,16] method.hr_crop=128"
for job in edge:wokd:0:[] edge:mskd:0:[0,1,2] edge:sskd:0:[2] edge:wokd:1:[] edge:mskd:1:[0,1,2] \
           paper_student:wokd:0:[] paper_student:mskd:0:[0,1,2] paper_student:sskd:0:[2] \
           paper_student:wokd:1:[] paper_student:mskd:1:[0,1,2]; do
  IFS=: read -r student name seed scales <<< "$job"
  out=runs/mskd_${student}_x8_$name$([ "$seed" = 0 ] || echo "_seed$seed")
  extra=$([ "$student" = edge ] || echo "$paper")
  # shellcheck disable=SC2086  # $extra is a list of overrides
  [ -f "$out/final.safetensors" ] || train recipes/mskd_edge_x8.yaml seed="$seed" "method.kd_scales=$scales" $extra \
    output_dir="$out"
done
# diagnostic: MSKD with its feature L2 term only (no feature discriminators)
[ -f runs/mskd_edge_x8_mskd_l2only/final.safetensors ] || train recipes/mskd_edge_x8.yaml method.lambda_adv=0 \
  output_dir=runs/mskd_edge_x8_mskd_l2only
