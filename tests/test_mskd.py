"""DFDNet teacher, MSKD paper student and the MSKD training method (shapes, contracts, real losses)."""

from __future__ import annotations

import pytest
import torch

from fsr_edge.dictionary import COMPONENTS
from fsr_edge.models import create_model, load_model, save_model
from fsr_edge.models.dfdnet import DFTBlock, cadain


def test_cadain_gives_atoms_the_part_statistics():
    atoms, part = torch.randn(3, 4, 5, 5) * 3 + 1, torch.randn(2, 4, 5, 5) * 0.5 - 2
    adapted = cadain(atoms, part)
    assert adapted.shape == (2, 3, 4, 5, 5)
    torch.testing.assert_close(adapted.mean((3, 4)), part.mean((2, 3))[:, None].expand(2, 3, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(adapted.std((3, 4), unbiased=False),
                               part.std((2, 3), unbiased=False)[:, None].expand(2, 3, 4), atol=1e-4, rtol=1e-4)


def test_dft_block_picks_the_matching_atom_and_pastes_it():
    torch.manual_seed(0)
    block = DFTBlock(4, "relu3_4")
    feat = torch.randn(2, 4, 16, 16)
    boxes = {c: torch.tensor([[2.0, 2.0, 8.0, 8.0], [6.0, 6.0, 12.0, 12.0]]) for c in COMPONENTS}
    part0 = feat[0, :, 2:8, 2:8]
    # atom 1 is the first image's part with another mean/std: CAdaIN undoes that, so it must win there
    atoms = {c: torch.stack([torch.randn(4, 6, 6), part0 * 3 + 5, torch.randn(4, 6, 6)]) for c in COMPONENTS}
    for conf in block.confidence.values():       # full confidence: paste the chosen atom as it is
        torch.nn.init.constant_(conf[-2].bias, 50.0)
    out, idx = block(feat, boxes, atoms)
    assert idx.shape == (2, 4) and (idx[0] == 1).all()
    torch.testing.assert_close(out[0, :, 3:7, 3:7], part0[:, 1:5, 1:5], atol=1e-4, rtol=1e-4)
    outside = torch.ones(16, 16, dtype=torch.bool)
    outside[2:8, 2:8] = False
    torch.testing.assert_close(out[0][:, outside], feat[0][:, outside])


def test_teacher_contract_weights_exclude_encoder_and_atoms(tmp_path, tiny_dictionary):
    dic = tiny_dictionary(tmp_path / "dic.safetensors")
    teacher = create_model("dfdnet_teacher_x8", dictionary=str(dic), detect_landmarks=False).eval()
    assert teacher.num_atoms == 2 and teacher.template_landmarks[0, 0] == 60.0
    lr_face = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        sr_face, feats = teacher.forward_features(lr_face)
    assert sr_face.shape == (1, 3, 64, 64) and teacher(lr_face).shape == sr_face.shape
    assert [f.shape[1] for f in feats] == list(teacher.feature_channels)
    assert [64 // f.shape[-1] for f in feats] == list(teacher.feature_strides) == [8, 4, 2]
    keys = teacher.state_dict().keys()
    assert not [k for k in keys if k.startswith("encoder.") or k.startswith("atoms_")]
    # to_rgb starts at zero: the untrained teacher is exactly its bicubic upsample
    torch.testing.assert_close(sr_face, teacher.upsample_input(lr_face))
    torch.nn.init.normal_(teacher.to_rgb[0].weight, std=0.01)
    path = save_model(teacher, tmp_path / "t.safetensors", arch="dfdnet_teacher_x8",
                      kwargs={"dictionary": str(dic), "detect_landmarks": False})
    assert path.stat().st_size < 8 * 2**20
    again = load_model(path)
    with torch.no_grad():
        torch.testing.assert_close(again(lr_face), teacher(lr_face))


def test_paper_student_has_no_dictionary_and_same_feature_layout():
    student = create_model("mskd_paper_student_x8").eval()
    teacher = create_model("dfdnet_teacher_x8", num_atoms=1, detect_landmarks=False)
    assert not hasattr(student, "dft") and not [k for k in student.state_dict() if "atoms" in k]
    assert student.feature_channels == teacher.feature_channels
    with torch.no_grad():
        sr_face, feats = student.forward_features(torch.rand(1, 3, 8, 8))
    assert sr_face.shape == (1, 3, 64, 64) and len(feats) == 3


@pytest.mark.parametrize("kd_scales", [(0, 1, 2), ()])
def test_mskd_method_losses_train_student_heads_not_teacher(tmp_path, kd_scales, tiny_dictionary):
    from fsr_edge.training.mskd import MSKDStudent

    dic = tiny_dictionary(tmp_path / "dic.safetensors")
    teacher = create_model("dfdnet_teacher_x8", dictionary=str(dic), detect_landmarks=False)
    torch.nn.init.normal_(teacher.to_rgb[0].weight, std=0.01)
    t_path = save_model(teacher, tmp_path / "t.safetensors", arch="dfdnet_teacher_x8", kwargs={})
    torch.manual_seed(0)
    student = create_model("edge_sr_x8")
    method = MSKDStudent(teacher=str(t_path), teacher_dictionary=str(dic), kd_scales=kd_scales)
    method.prepare(student)
    batch = {"lr_face": torch.rand(2, 3, 8, 8), "hr_face": torch.rand(2, 3, 64, 64)}
    losses = method.losses(student, batch)
    assert torch.isfinite(losses["loss"]) and losses["loss"] > 0
    losses["loss"].backward()
    assert all(p.grad is None for p in method.teacher.parameters())
    assert student.head.weight.grad is not None
    if kd_scales:
        assert set(losses) >= {"mse", "vgg", "kd", "kd_adv", "kd_feat"}
        assert method.adapters["0"].weight.grad is not None     # 1x1 adapter: 32 -> 128 channels
        aux = method.aux_losses(student, batch)
        aux["loss"].backward()
        assert torch.isfinite(aux["loss"]) and method.discs["2"].net[0].parametrizations.weight.original.grad is not None
        assert set(method.aux_modules()) == {"discs"}
    else:
        assert "kd" not in losses and method.aux_modules() == {}


def test_kd_schedule_cosine_takes_lambda_kd_to_zero_and_constant_keeps_it(tmp_path, tiny_dictionary):
    from fsr_edge.training.mskd import MSKDStudent, TeacherTraining

    dic = tiny_dictionary(tmp_path / "dic.safetensors")
    teacher = create_model("dfdnet_teacher_x8", dictionary=str(dic), detect_landmarks=False)
    t_path = save_model(teacher, tmp_path / "t.safetensors", arch="dfdnet_teacher_x8", kwargs={})
    student = create_model("edge_sr_x8")
    batch = {"lr_face": torch.rand(2, 3, 8, 8), "hr_face": torch.rand(2, 3, 64, 64)}
    opts = dict(teacher=str(t_path), teacher_dictionary=str(dic), kd_scales=[2], lambda_vgg=0, lambda_kd=0.5)
    cosine, constant = MSKDStudent(**opts, kd_schedule="cosine"), MSKDStudent(**opts)
    for method in (cosine, constant):
        method.prepare(student)
    for step, want in ((0, 0.5), (50, 0.25), (100, 0.0)):
        cosine.on_step(step, 100)
        constant.on_step(step, 100)
        assert cosine.kd_weight == pytest.approx(want, abs=1e-9) and constant.kd_weight == 0.5
        losses = cosine.losses(student, batch)
        assert float(losses["kd_weight"]) == pytest.approx(want, abs=1e-7)
        torch.testing.assert_close(losses["loss"], losses["recon"] + want * losses["kd"])
    with pytest.raises(ValueError, match="kd_schedule='linear'"):
        MSKDStudent(**opts, kd_schedule="linear")
    with pytest.raises(ValueError, match="val_landmarks='hr'"):
        TeacherTraining(lambda_vgg=0, lambda_adv=0, val_landmarks="hr")


def test_teacher_training_init_from_starts_a_second_stage_from_saved_weights(tmp_path, tiny_dictionary):
    from fsr_edge.training.mskd import TeacherTraining

    dic = tiny_dictionary(tmp_path / "dic.safetensors")
    stage1 = create_model("dfdnet_teacher_x8", dictionary=str(dic), detect_landmarks=False)
    torch.nn.init.normal_(stage1.to_rgb[0].weight, std=0.01)
    path = save_model(stage1, tmp_path / "stage1.safetensors", arch="dfdnet_teacher_x8",
                      kwargs={"dictionary": str(dic), "detect_landmarks": False})
    fresh = create_model("dfdnet_teacher_x8", dictionary=str(dic), detect_landmarks=False)
    lr_face = torch.rand(1, 3, 8, 8)
    TeacherTraining(lambda_vgg=0, lambda_adv=0).prepare(fresh)
    torch.testing.assert_close(fresh(lr_face), fresh.upsample_input(lr_face))   # no init_from: untouched
    TeacherTraining(lambda_vgg=0, lambda_adv=0, init_from=str(path)).prepare(fresh)
    with torch.no_grad():
        torch.testing.assert_close(fresh(lr_face), stage1(lr_face))


def test_feature_cache_matches_live_encoder_and_teacher(faces_dir, tmp_path, tiny_dictionary):
    from fsr_edge.training.mskd import FeatureCache

    dic = tiny_dictionary(tmp_path / "dic.safetensors")
    teacher = create_model("dfdnet_teacher_x8", dictionary=str(dic), detect_landmarks=False,
                           decoder_channels=[16, 16, 8])
    torch.nn.init.normal_(teacher.to_rgb[0].weight, std=0.01)
    t_path = save_model(teacher, tmp_path / "t.safetensors", arch="dfdnet_teacher_x8",
                        kwargs={"dictionary": str(dic), "detect_landmarks": False, "decoder_channels": [16, 16, 8]})
    cache = FeatureCache(root=str(faces_dir), split="val", cache_dir=str(tmp_path / "cache"), variants=["blind"],
                         limit=2, teacher=str(t_path), batch_size=2)
    assert len(cache) == 2
    item = cache[1]
    with torch.no_grad():
        enc = teacher.encode(item["lr_face"][None])
        _, t_feats = teacher.forward_features(item["lr_face"][None], item["landmarks68"][None])
    for cached, live in zip(item["enc_feats"] + item["teacher_feats"], enc + t_feats):
        torch.testing.assert_close(cached, live[0], atol=2e-2 * live.abs().max().item(), rtol=1e-2)
    # a second open reuses the files; a new teacher file rebuilds only the teacher part
    again = FeatureCache(root=str(faces_dir), split="val", cache_dir=str(tmp_path / "cache"), variants=["blind"],
                         limit=2, teacher=str(t_path), batch_size=2)
    torch.testing.assert_close(again[0]["teacher_feats"][2], cache[0]["teacher_feats"][2])


def test_feature_cache_detected_landmarks_are_the_teachers_landmark_step(faces_dir, tmp_path, tiny_dictionary):
    """landmarks="detected": items carry dlib on the upsampled LR face (as the teacher at inference); the teacher
    features for students stay those of the HR landmarks."""
    import torch.nn.functional as F

    from fsr_edge.models.dfdnet import _detect
    from fsr_edge.training.mskd import FeatureCache

    dic = tiny_dictionary(tmp_path / "dic.safetensors")
    teacher = create_model("dfdnet_teacher_x8", dictionary=str(dic), detect_landmarks=False,
                           decoder_channels=[16, 16, 8])
    t_path = save_model(teacher, tmp_path / "t.safetensors", arch="dfdnet_teacher_x8",
                        kwargs={"dictionary": str(dic), "detect_landmarks": False, "decoder_channels": [16, 16, 8]})
    opts = dict(root=str(faces_dir), split="val", cache_dir=str(tmp_path / "cache"), variants=["clean"], limit=3,
                teacher=str(t_path), batch_size=2)
    exact = FeatureCache(**opts)
    detected = FeatureCache(**opts, landmarks="detected")
    hr_landmarks = torch.stack([exact[i]["landmarks68"] for i in range(3)])
    fallback = hr_landmarks.mean(0)
    for i in range(3):
        up_face = F.interpolate(detected[i]["lr_face"][None], scale_factor=8, mode="bicubic", align_corners=False)
        found = _detect(up_face)[0]
        want = fallback if found is None else found
        torch.testing.assert_close(detected[i]["landmarks68"], want)
        assert not torch.equal(detected[i]["landmarks68"], hr_landmarks[i])   # not the exact ones
        for t_exact, t_det in zip(exact[i]["teacher_feats"], detected[i]["teacher_feats"]):
            torch.testing.assert_close(t_exact, t_det)
    with pytest.raises(ValueError, match="landmarks='dlib'"):
        FeatureCache(**opts, landmarks="dlib")


def test_feature_cache_mix_follows_p_blind(faces_dir, tmp_path):
    from fsr_edge.data import FaceDataset
    from fsr_edge.training.mskd import FeatureCache

    for p_blind, mode in ((0.0, "clean"), (1.0, "blind")):
        cache = FeatureCache(root=str(faces_dir), split="val", cache_dir=str(tmp_path / "cache"), variants=["mix"],
                             p_blind=p_blind, limit=2, batch_size=2)   # same folder: a new p_blind rebuilds it
        direct = FaceDataset(faces_dir, split="val", degradation=mode, train=False, progress=False)
        for i in range(2):
            torch.testing.assert_close(cache[i]["lr_face"], direct[i]["lr_face"])


def test_feature_cache_jitter_views_store_the_training_views(faces_dir, tmp_path):
    from fsr_edge.data import FaceDataset
    from fsr_edge.training.mskd import FeatureCache

    cache = FeatureCache(root=str(faces_dir), split="val", cache_dir=str(tmp_path / "cache"), variants=["mix"],
                         p_blind=0.25, jitter_views=2, limit=2, batch_size=2)
    assert len(cache) == 4                                   # view-major: faces 0, 1 of epoch 0, then of epoch 1
    train = FaceDataset(faces_dir, split="val", degradation="mix", p_blind=0.25, train=True, progress=False)
    for epoch in (0, 1):
        train.set_epoch(epoch)
        for i in range(2):
            want, got = train[i], cache[2 * epoch + i]
            torch.testing.assert_close(got["lr_face"], want["lr_face"])
            torch.testing.assert_close(got["landmarks68"], want["landmarks68"])
    assert not torch.equal(cache[0]["hr_face"], cache[2]["hr_face"])   # a second view is new data


def test_crop_decoding_equals_the_crop_of_whole_face_conditions(tmp_path, tiny_dictionary):
    dic = tiny_dictionary(tmp_path / "dic.safetensors")
    teacher = create_model("dfdnet_teacher_x8", dictionary=str(dic), detect_landmarks=False,
                           decoder_channels=[16, 16, 8]).eval()
    lr_face = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        enc = teacher.encode(lr_face)
        up = teacher.upsample_input(lr_face)
        whole = teacher.condition(up, enc, None)
        window = teacher.condition(up, enc, None, (16, 24, 32))
    for w, full, s in zip(window, whole, (2, 4, 8)):
        torch.testing.assert_close(w, full[..., 16 // s:48 // s, 24 // s:56 // s], atol=1e-5, rtol=1e-5)


def _edge_method(tmp_path, tiny_dictionary, **opts):
    from fsr_edge.training.mskd import MSKDStudent

    dic = tiny_dictionary(tmp_path / "dic.safetensors")
    # the shipped teacher's decoder widths, so EdgeSR's 1/4 and 1/2 channel counts match the teacher's
    teacher = create_model("dfdnet_teacher_x8", dictionary=str(dic), detect_landmarks=False, decoder_channels=[64, 32, 16])
    t_path = save_model(teacher, tmp_path / "t.safetensors", arch="dfdnet_teacher_x8",
                        kwargs={"decoder_channels": [64, 32, 16]})
    return MSKDStudent(teacher=str(t_path), teacher_dictionary=str(dic), lambda_vgg=0, **opts)


def test_adapters_map_every_edge_student_scale_but_keep_the_paper_students_own_maps(tmp_path, tiny_dictionary):
    # the teacher's SFT maps are signed; EdgeSR's 1/4 and 1/2 maps with matching channel counts are a different
    # basis (post-ReLU by default): "auto" learns a 1x1 map there, "match" (what mskd-x8 used) compares them directly
    for adapter, student, want in (("auto", "edge_sr_x8", ["Conv2d", "Conv2d", "Conv2d"]),
                                   ("match", "edge_sr_x8", ["Conv2d", "Identity", "Identity"]),
                                   ("conv1x1", "mskd_paper_student_x8", ["Conv2d", "Conv2d", "Conv2d"])):
        method = _edge_method(tmp_path, tiny_dictionary, adapter=adapter, kd_scales=[0, 1, 2])
        model = create_model(student, decoder_channels=[64, 32, 16]) if "paper" in student else create_model(student)
        method.prepare(model)
        assert [type(method.adapters[str(i)]).__name__ for i in range(3)] == want, adapter
    paper = _edge_method(tmp_path, tiny_dictionary, kd_scales=[0, 1, 2])
    paper.prepare(create_model("mskd_paper_student_x8", decoder_channels=[64, 32, 16]))
    assert all(isinstance(a, torch.nn.Identity) for a in paper.adapters.values())
    with pytest.raises(ValueError, match="adapter='same'"):
        _edge_method(tmp_path, tiny_dictionary, adapter="same")
    with pytest.raises(ValueError, match="student_features='relu'"):
        _edge_method(tmp_path, tiny_dictionary, student_features="relu")


def test_edge_student_pre_activation_features_keep_the_negative_half_and_the_same_output():
    torch.manual_seed(0)
    model = create_model("edge_sr_x8").eval()
    lr_face = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        sr_out, out_feats = model.forward_features(lr_face)
        sr_pre, pre_feats = model.forward_features(lr_face, pre_activation=True)
    torch.testing.assert_close(sr_pre, sr_out)
    torch.testing.assert_close(pre_feats[0], out_feats[0])               # the 1/8 map is a residual sum
    for pre, out in zip(pre_feats[1:], out_feats[1:]):
        assert (out >= 0).all() and (pre < 0).float().mean() > 0.2
        torch.testing.assert_close(pre.clamp_min(0), out)


def test_normalized_feature_terms_weigh_every_scale_alike(tmp_path, tiny_dictionary):
    from fsr_edge.training.mskd import _standardize_like

    torch.manual_seed(0)
    teacher_feat = torch.randn(4, 8, 6, 6) * 0.1 + 3.0
    _, t_n = _standardize_like(torch.zeros_like(teacher_feat), teacher_feat)
    torch.testing.assert_close(t_n.mean(dim=(0, 2, 3)), torch.zeros(8), atol=1e-5, rtol=0)
    torch.testing.assert_close(t_n.std(dim=(0, 2, 3)), torch.ones(8), atol=1e-5, rtol=0)
    # a constant student explains none of the variance: its standardized L2 is ~1 whatever the teacher's scale
    for scale in (0.01, 1.0, 30.0):
        target = teacher_feat * scale
        s_c, t_c = _standardize_like(target.mean(dim=(0, 2, 3), keepdim=True).expand_as(target), target)
        assert float(torch.nn.functional.mse_loss(s_c, t_c)) == pytest.approx(1.0, rel=0.05)
    # through the method: the logged per-scale terms are standardized, and gradients reach the student
    method = _edge_method(tmp_path, tiny_dictionary, kd_scales=[0, 1, 2], normalize_features=True,
                          student_features="pre_activation",
                          lambda_adv=0.0)
    student = create_model("edge_sr_x8")
    method.prepare(student)
    batch = {"lr_face": torch.rand(2, 3, 8, 8), "hr_face": torch.rand(2, 3, 64, 64)}
    losses = method.losses(student, batch)
    with torch.no_grad():
        _, teacher_feats = method.teacher.forward_features(batch["lr_face"])
        _, student_feats = student.forward_features(batch["lr_face"], pre_activation=True)
        for i in range(3):
            s_n, t_n = _standardize_like(method.adapters[str(i)](student_feats[i]), teacher_feats[i])
            want = torch.nn.functional.mse_loss(s_n, t_n)
            torch.testing.assert_close(losses[f"kd_feat_{i}"], want)
    losses["loss"].backward()
    assert student.up2[0].weight.grad is not None and method.adapters["2"].weight.grad is not None
    assert set(method.aux_losses(student, batch)) == {"loss", "d_0", "d_1", "d_2"}


def test_file_id_resolves_a_bundled_name_to_its_weights_file(tmp_path):
    import os

    from fsr_edge.models._registry import WEIGHTS_DIR
    from fsr_edge.training.mskd import _file_id

    st = os.stat(WEIGHTS_DIR / "mskd_teacher_x8.safetensors")
    # a cache of teacher features built from the bundled teacher is tied to its file, like any path
    assert _file_id("mskd-teacher-x8") == ["mskd-teacher-x8", st.st_size, st.st_mtime]
    weights = tmp_path / "t.safetensors"
    weights.write_bytes(b"x" * 5)
    assert _file_id([str(weights), None])[0][1] == 5
    assert _file_id(str(tmp_path / "missing.safetensors"))[1:] == [None, None]


def test_identity_folds_keep_each_identity_in_one_fold(faces_dir):
    import csv
    from pathlib import Path

    from fsr_edge.data import find_faces, identity_folds
    from fsr_edge.errors import ConfigError

    records = find_faces(faces_dir, split="train")
    folds = identity_folds(faces_dir, split="train", n_folds=2)
    with open(faces_dir / "manifest.csv", newline="") as f:
        identity = {Path(r["file"]).stem: r["identity"] for r in csv.DictReader(f)}
    fold_of: dict[str, set[int]] = {}
    for record, fold in zip(records, folds):
        fold_of.setdefault(identity[record.name], set()).add(fold)
    assert all(len(f) == 1 for f in fold_of.values())            # no identity on both sides
    per_fold = [sum(f == {k} for f in fold_of.values()) for k in (0, 1)]
    assert abs(per_fold[0] - per_fold[1]) <= 1                    # balanced in identities
    assert len(fold_of) < len(records)                           # some identity has several images
    assert identity_folds(faces_dir, split="train", n_folds=2) == folds   # deterministic
    with pytest.raises(ConfigError, match="at least 2 folds"):
        identity_folds(faces_dir, split="train", n_folds=1)


def test_feature_cache_cross_fit_takes_each_folds_features_from_its_teacher(faces_dir, tmp_path, tiny_dictionary):
    """teacher=[t_0, t_1]: fold k's faces get t_k's features (every view of them); exclude_fold=k keeps only
    the other folds' items (a teacher trained without fold k)."""
    from fsr_edge.data import identity_folds
    from fsr_edge.training.mskd import FeatureCache

    dic = tiny_dictionary(tmp_path / "dic.safetensors")
    kwargs = {"dictionary": str(dic), "detect_landmarks": False, "decoder_channels": [16, 16, 8]}
    teachers, paths = [], []
    for k in range(2):
        torch.manual_seed(k)
        teacher = create_model("dfdnet_teacher_x8", **kwargs)
        torch.nn.init.normal_(teacher.to_rgb[0].weight, std=0.01)
        teachers.append(teacher.eval())
        paths.append(str(save_model(teacher, tmp_path / f"t{k}.safetensors", arch="dfdnet_teacher_x8",
                                    kwargs=kwargs)))
    folds = identity_folds(faces_dir, split="val")[:4]
    assert set(folds) == {0, 1}                                   # the test needs both folds among 4 faces
    opts = dict(root=str(faces_dir), split="val", cache_dir=str(tmp_path / "cache"), variants=["mix"],
                jitter_views=2, limit=4, batch_size=3)
    cache = FeatureCache(**opts, teacher=paths)
    assert len(cache) == 8                                        # 2 views of 4 faces, view-major
    for j in range(8):
        item = cache[j]
        with torch.no_grad():
            _, live = teachers[folds[j % 4]].forward_features(item["lr_face"][None], item["landmarks68"][None])
            _, other = teachers[1 - folds[j % 4]].forward_features(item["lr_face"][None], item["landmarks68"][None])
        torch.testing.assert_close(item["teacher_feats"][2], live[2][0], atol=2e-2 * live[2].abs().max().item(),
                                   rtol=1e-2)
        assert not torch.allclose(item["teacher_feats"][2], other[2][0], atol=1e-3)   # not the other teacher's
    # the same teachers in the other order rebuild the teacher part: the in-sample control
    swapped = FeatureCache(**opts, teacher=paths[::-1])
    assert not torch.allclose(swapped[0]["teacher_feats"][2], cache[0]["teacher_feats"][2], atol=1e-3)
    held_out = FeatureCache(**opts, exclude_fold=0)
    assert len(held_out) == 2 * folds.count(1)
    torch.testing.assert_close(held_out[0]["lr_face"], cache[folds.index(1)]["lr_face"])
    with pytest.raises(ValueError, match="one teacher per fold"):
        FeatureCache(**opts, teacher=paths[:1])
    with pytest.raises(ValueError, match="exclude_fold=2"):
        FeatureCache(**opts, exclude_fold=2)
