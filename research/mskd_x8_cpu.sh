#!/usr/bin/env bash
# MSKD x8 on this 2-core CPU, end to end (what produced the bundled mskd-x8 / mskd-teacher-x8):
#   bash research/mskd_x8_cpu.sh [FACES_DIR]
# Steps, in order:
#   1. dictionary (K-means atoms of VGG19 features of 96 training faces);
#   2. teacher stage 1 (64 px windows, 50 % blind, one fixed view per face); stage 2 (from stage 1, 128 px windows,
#      25 % blind, 4 cached jittered views per face); stage 3 (stage 2 continued); stage 4 (stage 3 on the
#      landmarks detected on its LR inputs: what ships as mskd-teacher-x8);
#   3. cross-fit teachers: one per half of the training identities, each trained without its half;
#   4. students (the rows of research/mskd_experiments.py): the 4-view ablation of the edge student (w/o KD, MSKD,
#      SSKD, MSKD with lambda_adv 0.1, MSKD with a cosine-decayed KD weight; distilling stage 2, same cached data and steps, 2
#      seeds); the 1-view ablation (one fixed view per face) of the edge and paper students (the paper student's
#      decoder on 128 px output windows, like the teacher's stage 2: a whole-face step costs ~3 s here); the
#      1x1-adapter runs (the edge student distilling the shipped stage-4 teacher through a 1x1 adapter at every
#      scale, method.adapter=auto, 1000 steps on 2 seeds and 3000 on one); the cross-fit students (MSKD
#      lambda_adv 0.1 on the cross-fit teachers' features, held out: no face distilled by a teacher that saw it,
#      and in sample: the control).
# Each step is skipped when its output exists; training runs resume from their checkpoints.
set -euo pipefail
FACES=${1:-../shared/data/faces}
train() { fsr-edge train "$@" data.train.root="$FACES" data.val.root="$FACES"; }
[ -f runs/mskd_dict/dict_k8.safetensors ] || fsr-edge build-dictionary --data "$FACES" --split train \
    -o runs/mskd_dict/dict_k8.safetensors --atoms 8 --no-flip --limit 96
[ -f runs/mskd_teacher_x8/final.safetensors ] || train recipes/mskd_teacher_x8.yaml
[ -f runs/mskd_teacher_x8_stage2/final.safetensors ] || train recipes/mskd_teacher_x8_stage2.yaml
[ -f runs/mskd_teacher_x8_stage3/final.safetensors ] || train recipes/mskd_teacher_x8_stage3.yaml
[ -f runs/mskd_teacher_x8_stage4/final.safetensors ] || train recipes/mskd_teacher_x8_stage4.yaml
# cross-fit teachers, each trained without one half of the training identities
for k in 0 1; do
  [ -f runs/mskd_teacher_x8_xfit$k/final.safetensors ] || train recipes/mskd_teacher_x8_xfit.yaml \
      data.train.exclude_fold=$k output_dir=runs/mskd_teacher_x8_xfit$k
done
# the students: one run per row of research/mskd_experiments.py (the table the report reads too)
PY=${PYTHON:-python3}
while read -r out overrides <&3; do
  # shellcheck disable=SC2086  # $overrides is a list of shell-quoted overrides
  [ -f "$out/final.safetensors" ] || eval "train recipes/mskd_edge_x8.yaml $overrides"
done 3< <($PY -m research.mskd_experiments)
