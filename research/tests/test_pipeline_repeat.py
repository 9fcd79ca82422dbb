from research.pipeline_repeat import compare, markdown, overlap


def _bench(p50, ci, speedup, sci, load=0.5):
    lat = {"p50_ms": p50, "median_ci95_ms": ci, "ci_reached": True}
    return {"machine": {"cpu_model": "cpu", "load_avg_1m": load}, "settings": {"rel_ci": 0.01, "time_cap_s": 5.0},
            "rows": [{"id": "onnx-fp32-32x32", "role": "student", "latency": lat, "load_avg_1m_end": load}],
            "ratios": {"pairs": [{"label": "same runtime", "student_id": "s", "speedup": speedup, "speedup_ci": sci,
                                  "paired_rounds": 25}]}}


def test_overlap():
    assert overlap([1, 2], [2, 3]) and not overlap([1, 2], [2.1, 3]) and overlap(None, [1, 2]) is None


def test_runs_that_moved_disagree_and_runs_that_held_agree():
    same = compare(_bench(5.0, [4.9, 5.1], 100, [95, 105]), _bench(5.05, [5.0, 5.1], 102, [97, 108]))
    assert same["ratios_agree"] and same["rows_agree"] == 1
    moved = compare(_bench(5.0, [4.9, 5.1], 100, [95, 105]), _bench(6.0, [5.9, 6.1], 130, [120, 140]))
    assert moved["ratios_agree"] is False and moved["rows_agree"] == 0
    assert "Headline ratios agree: **no**" in markdown(moved, ("a", "b"))
