"""The MSKD x8 student experiments: one table, read by the driver (research/mskd_x8_cpu.sh trains each row) and
by the report (research/report_mskd.py evaluates each row's run under its label).

Every row trains ``recipes/mskd_edge_x8.yaml`` with overrides. ``views``: 4 = the teacher stage 2's cache of 4
jittered views per face (the main ablation and what ships: "edge student SSKD", seed 0); 1 = one fixed draw per
face (the paper student was run only this way). ``teacher``: None = stage 2 from the recipe's cache; "t4" = the
shipped stage-4 teacher through 1x1 adapters at every scale, with its own cache; "xfit" / "insample" = the two
cross-fitted teachers (recipes/mskd_teacher_x8_xfit.yaml): each face's features from the teacher that never saw
its identity (held out), or the same two teachers swapped, each distilling the faces it trained on (the control:
only memorisation differs). Seed 1 repeats a row where the margin is small (same cached data: the cache is the
data; ``seed`` sets model, adapter and discriminator init and the data order).

    python -m research.mskd_experiments          # one line per row: OUTPUT_DIR, then the shell-quoted overrides
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass

RECIPE = "recipes/mskd_edge_x8.yaml"
_XF0, _XF1 = "runs/mskd_teacher_x8_xfit0/best.safetensors", "runs/mskd_teacher_x8_xfit1/best.safetensors"
# shared override groups (method.teacher only sets the adapters' channels where every feature comes from a cache)
_PAPER = ["model._component_=fsr_edge.models.mskd.mskd_paper_student_x8", "model.decoder_channels=[64,32,16]",
          "method.hr_crop=128"]
_ONE_VIEW = ["data.train.cache_dir=runs/mskd_cache/train_mix_pb25", "data.train.jitter_views=0"]
_TEACHERS = {
    "t4": ["method.teacher=mskd-teacher-x8", "data.train.teacher=mskd-teacher-x8", "method.adapter=auto",
           "data.train.cache_dir=runs/mskd_cache/train_mix_pb25_j4_t4"],
    "xfit": [f"method.teacher={_XF0}", "method.adapter=auto", f"data.train.teacher=[{_XF0},{_XF1}]",
             "data.train.cache_dir=runs/mskd_cache/train_mix_pb25_j4_xfit"],
    "insample": [f"method.teacher={_XF0}", "method.adapter=auto", f"data.train.teacher=[{_XF1},{_XF0}]",
                 "data.train.cache_dir=runs/mskd_cache/train_mix_pb25_j4_xins"],
}
MSKD, SSKD, WOKD = (0, 1, 2), (2,), ()


@dataclass(frozen=True)
class Experiment:
    label: str                    # the report's row
    student: str                  # "edge" (EdgeSR) or "paper_student" (the paper's SFT U-Net)
    name: str                     # run folder: runs/mskd_<student>_x8_<name>[_seed<seed>]
    seed: int
    kd_scales: tuple[int, ...]
    lambda_adv: float = 1.0
    views: int = 4
    kd_schedule: str = "constant"
    teacher: str | None = None
    steps: int = 1000

    @property
    def run(self) -> str:
        return f"mskd_{self.student}_x8_{self.name}" + (f"_seed{self.seed}" if self.seed else "")

    def overrides(self) -> list[str]:
        out = [f"seed={self.seed}", f"method.kd_scales=[{','.join(map(str, self.kd_scales))}]",
               f"method.lambda_adv={self.lambda_adv:g}", f"method.kd_schedule={self.kd_schedule}"]
        out += _PAPER if self.student == "paper_student" else []
        out += _ONE_VIEW if self.views == 1 else []
        out += _TEACHERS[self.teacher] if self.teacher else []
        return out + [f"max_steps={self.steps}", f"output_dir=runs/{self.run}"]


E = Experiment
# in the report's table order
EXPERIMENTS: list[Experiment] = [
    *[E(f"paper student {kd}", "paper_student", run, 0, scales, views=1)
      for kd, run, scales in (("w/o KD", "wokd", WOKD), ("SSKD", "sskd", SSKD), ("MSKD", "mskd", MSKD))],
    E("edge student w/o KD", "edge", "wokd_j4", 0, WOKD),
    E("edge student SSKD", "edge", "sskd_j4", 0, SSKD),
    E("edge student MSKD", "edge", "mskd_j4", 0, MSKD),
    E("edge student MSKD, lambda_adv 0.1", "edge", "mskd_j4_adv01", 0, MSKD, 0.1),
    E("edge student MSKD, KD weight cosine to 0", "edge", "mskd_j4_cos", 0, MSKD, kd_schedule="cosine"),
    E("edge student w/o KD (seed 1)", "edge", "wokd_j4", 1, WOKD),
    E("edge student SSKD (seed 1)", "edge", "sskd_j4", 1, SSKD),
    E("edge student MSKD (seed 1)", "edge", "mskd_j4", 1, MSKD),
    E("edge student MSKD, lambda_adv 0.1 (seed 1)", "edge", "mskd_j4_adv01", 1, MSKD, 0.1),
    E("edge student MSKD, KD weight cosine to 0 (seed 1)", "edge", "mskd_j4_cos", 1, MSKD, kd_schedule="cosine"),
    E("edge student w/o KD, 1 view", "edge", "wokd", 0, WOKD, views=1),
    E("edge student SSKD, 1 view", "edge", "sskd", 0, SSKD, views=1),
    E("edge student MSKD, 1 view", "edge", "mskd", 0, MSKD, views=1),
    E("edge student w/o KD, 1 view (seed 1)", "edge", "wokd", 1, WOKD, views=1),
    E("edge student MSKD, 1 view (seed 1)", "edge", "mskd", 1, MSKD, views=1),
    # diagnostic: MSKD's feature L2 term alone (lambda_adv 0), to tell its two halves apart
    E("edge student MSKD, L2 only, 1 view", "edge", "mskd_l2only", 0, MSKD, 0.0, views=1),
    E("paper student w/o KD (seed 1)", "paper_student", "wokd", 1, WOKD, views=1),
    E("paper student MSKD (seed 1)", "paper_student", "mskd", 1, MSKD, views=1),
    E("paper student SSKD (seed 1)", "paper_student", "sskd", 1, SSKD, views=1),
    # the shipped teacher (stage 4) through a 1x1 adapter at EVERY scale (method.adapter=auto; the rows above ran
    # "match": identity at 1/4 and 1/2, which compared EdgeSR's post-ReLU maps with the teacher's signed SFT maps)
    E("edge student MSKD, 1x1 adapters, teacher stage 4", "edge", "mskd_t4", 0, MSKD, teacher="t4"),
    E("edge student SSKD, 1x1 adapter, teacher stage 4", "edge", "sskd_t4", 0, SSKD, teacher="t4"),
    E("edge student MSKD, lambda_adv 0.1, 1x1 adapters, teacher stage 4", "edge", "mskd_adv01_t4", 0, MSKD, 0.1,
      teacher="t4"),
    E("edge student MSKD, 1x1 adapters, teacher stage 4 (seed 1)", "edge", "mskd_t4", 1, MSKD, teacher="t4"),
    E("edge student SSKD, 1x1 adapter, teacher stage 4 (seed 1)", "edge", "sskd_t4", 1, SSKD, teacher="t4"),
    E("edge student MSKD, lambda_adv 0.1, 1x1 adapters, teacher stage 4 (seed 1)", "edge", "mskd_adv01_t4", 1, MSKD,
      0.1, teacher="t4"),
    # 3000 steps instead of 1000 (the w/o-KD baseline was still improving at 1000)
    E("edge student w/o KD, 3000 steps", "edge", "wokd_j4_3k", 0, WOKD, steps=3000),
    E("edge student MSKD, lambda_adv 0.1, 1x1 adapters, teacher stage 4, 3000 steps", "edge", "mskd_adv01_t4_3k", 0,
      MSKD, 0.1, teacher="t4", steps=3000),
    # cross-fit students (last: they need the two cross-fit teachers)
    E("edge student MSKD, lambda_adv 0.1, cross-fit teachers, held out", "edge", "mskd_adv01_xfit", 0, MSKD, 0.1,
      teacher="xfit"),
    E("edge student MSKD, lambda_adv 0.1, cross-fit teachers, in sample", "edge", "mskd_adv01_xins", 0, MSKD, 0.1,
      teacher="insample"),
    E("edge student MSKD, lambda_adv 0.1, cross-fit teachers, held out (seed 1)", "edge", "mskd_adv01_xfit", 1, MSKD,
      0.1, teacher="xfit"),
    E("edge student MSKD, lambda_adv 0.1, cross-fit teachers, in sample (seed 1)", "edge", "mskd_adv01_xins", 1,
      MSKD, 0.1, teacher="insample"),
]
# report label -> run folder
STUDENT_RUNS: dict[str, str] = {e.label: e.run for e in EXPERIMENTS}


def main() -> int:
    for e in EXPERIMENTS:
        print(f"runs/{e.run}", " ".join(shlex.quote(o) for o in e.overrides()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
