#!/usr/bin/env bash
# MSKD x8 on this 2-core CPU, end to end (what produced the bundled mskd-x8 / mskd-teacher-x8):
#   bash recipes/mskd_x8_cpu.sh [FACES_DIR]
# Steps, in order:
#   1. dictionary (K-means atoms of VGG19 features of 96 training faces);
#   2. teacher stage 1 (64 px windows, 50 % blind, one fixed view per face); stage 2 (from stage 1, 128 px windows,
#      25 % blind, 4 cached jittered views per face); stage 3 (stage 2 continued); stage 4 (stage 3 on the
#      landmarks detected on its LR inputs: what ships as mskd-teacher-x8);
#   3. cross-fit teachers: one per half of the training identities, each trained without its half;
#   4. students (the job list below): the 4-view ablation of the edge student (w/o KD, MSKD, SSKD, MSKD with
#      lambda_adv 0.1, MSKD with a cosine-decayed KD weight; distilling stage 2, same cached data and steps, 2
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
# student:run:seed:kd_scales:lambda_adv:views[:kd_schedule]. 4 views: the teacher's stage-2 cache (the main
# ablation and what ships: sskd_j4, seed 0); 1 view: one fixed draw per face (the 1-view ablation; the paper
# student was run only this way). Seed 1 again where the margin is small (same cached data). kd_schedule (default
# constant): cosine = MSKD with its KD weight falling to 0 over the run. teacher (default stage2): t4 = the shipped teacher
# (stage 4) through 1x1 adapters at every scale, its own feature cache; steps default 1000.
paper="model._component_=fsr_edge.models.mskd.mskd_paper_student_x8 model.decoder_channels=[64,32,16] method.hr_crop=128"
one_view="data.train.cache_dir=runs/mskd_cache/train_mix_pb25 data.train.jitter_views=0"
t4="method.teacher=mskd-teacher-x8 data.train.teacher=mskd-teacher-x8 method.adapter=auto data.train.cache_dir=runs/mskd_cache/train_mix_pb25_j4_t4"
# xfit: each face's features from the cross-fitted teacher that never saw it (teacher k = trained without fold k
# gives fold k); insample: the same two teachers swapped, each distilling the faces it trained on (the control).
# method.teacher only sets the adapters' channels here: every feature comes from the cache.
xf0=runs/mskd_teacher_x8_xfit0/best.safetensors xf1=runs/mskd_teacher_x8_xfit1/best.safetensors
xfit="method.teacher=$xf0 method.adapter=auto data.train.teacher=[$xf0,$xf1] data.train.cache_dir=runs/mskd_cache/train_mix_pb25_j4_xfit"
insample="method.teacher=$xf0 method.adapter=auto data.train.teacher=[$xf1,$xf0] data.train.cache_dir=runs/mskd_cache/train_mix_pb25_j4_xins"
for job in edge:wokd_j4:0:[]:1:4 edge:mskd_j4:0:[0,1,2]:1:4 edge:sskd_j4:0:[2]:1:4 edge:mskd_j4_adv01:0:[0,1,2]:0.1:4 \
           edge:wokd_j4:1:[]:1:4 edge:mskd_j4:1:[0,1,2]:1:4 edge:sskd_j4:1:[2]:1:4 edge:mskd_j4_adv01:1:[0,1,2]:0.1:4 \
           edge:wokd:0:[]:1:1 edge:mskd:0:[0,1,2]:1:1 edge:sskd:0:[2]:1:1 edge:wokd:1:[]:1:1 edge:mskd:1:[0,1,2]:1:1 \
           edge:mskd_l2only:0:[0,1,2]:0:1 \
           paper_student:wokd:0:[]:1:1 paper_student:mskd:0:[0,1,2]:1:1 paper_student:sskd:0:[2]:1:1 \
           paper_student:wokd:1:[]:1:1 paper_student:mskd:1:[0,1,2]:1:1 paper_student:sskd:1:[2]:1:1 \
           edge:mskd_j4_cos:0:[0,1,2]:1:4:cosine edge:mskd_j4_cos:1:[0,1,2]:1:4:cosine \
           edge:mskd_t4:0:[0,1,2]:1:4::t4 edge:sskd_t4:0:[2]:1:4::t4 edge:mskd_adv01_t4:0:[0,1,2]:0.1:4::t4 \
           edge:mskd_t4:1:[0,1,2]:1:4::t4 edge:sskd_t4:1:[2]:1:4::t4 edge:mskd_adv01_t4:1:[0,1,2]:0.1:4::t4 \
           edge:wokd_j4_3k:0:[]:1:4:::3000 edge:mskd_adv01_t4_3k:0:[0,1,2]:0.1:4::t4:3000 \
           edge:mskd_adv01_xfit:0:[0,1,2]:0.1:4::xfit edge:mskd_adv01_xins:0:[0,1,2]:0.1:4::insample \
           edge:mskd_adv01_xfit:1:[0,1,2]:0.1:4::xfit edge:mskd_adv01_xins:1:[0,1,2]:0.1:4::insample; do
  IFS=: read -r student name seed scales adv views schedule teacher steps <<< "$job"
  out=runs/mskd_${student}_x8_$name$([ "$seed" = 0 ] || echo "_seed$seed")
  extra="$([ "$student" = edge ] || echo "$paper") $([ "$views" = 4 ] || echo "$one_view")"
  case "${teacher:-}" in t4) extra="$extra $t4" ;; xfit) extra="$extra $xfit" ;; insample) extra="$extra $insample" ;; esac
  extra="$extra max_steps=${steps:-1000}"
  # shellcheck disable=SC2086  # $extra is a list of overrides
  [ -f "$out/final.safetensors" ] || train recipes/mskd_edge_x8.yaml seed="$seed" "method.kd_scales=$scales" \
    method.lambda_adv="$adv" method.kd_schedule="${schedule:-constant}" $extra output_dir="$out"
done
