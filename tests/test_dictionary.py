"""Component dictionary: boxes from real landmarks, K-means atoms, safetensors round trip."""

from __future__ import annotations

import pytest
import torch

from fsr_edge.dictionary import (COMPONENTS, ComponentDictionary, _component_patches, build_dictionary,
                                 component_boxes, load_dictionary, patch_size)
from fsr_edge.errors import WeightsError


@pytest.fixture(scope="module")
def faces(faces_dir):
    from fsr_edge.data import DegradationMode, FaceDataset

    ds = FaceDataset(faces_dir, split="val", hr_size=128, train=False, degradation=DegradationMode.CLEAN,
                     progress=False)
    items = [ds[i] for i in range(3)]
    return torch.stack([it["hr_face"] for it in items]), torch.stack([it["landmarks68"] for it in items])


def test_boxes_hold_their_landmarks_and_stay_apart(faces):
    _, landmarks = faces
    boxes = component_boxes(landmarks, image_size=128)
    groups = {"left_eye": slice(36, 42), "right_eye": slice(42, 48), "nose": slice(30, 36), "mouth": slice(48, 68)}
    for comp, sl in groups.items():
        pts = landmarks[:, sl] + 0.5
        b = boxes[comp]
        assert (pts[..., 0] >= b[:, None, 0]).all() and (pts[..., 0] <= b[:, None, 2]).all(), comp
        assert (pts[..., 1] >= b[:, None, 1]).all() and (pts[..., 1] <= b[:, None, 3]).all(), comp
        assert (b >= 0).all() and (b <= 128).all(), comp
    assert (boxes["left_eye"][:, 2] < boxes["right_eye"][:, 0]).all()  # the eyes do not overlap


def test_single_atom_is_the_mean_patch_and_round_trips(faces, tmp_path):
    hr, landmarks = faces[0][:2], faces[1][:2]
    layers = ("relu2_2",)
    dic = build_dictionary([(hr, landmarks)], atoms=1, layers=layers, progress=False)
    from fsr_edge.vgg import VGG19

    patches = _component_patches(VGG19(max_block=2), hr, landmarks, layers, flip=True)
    for comp in COMPONENTS:
        for layer in layers:
            key = f"{comp}.{layer}"
            s = patch_size(comp, layer, image_size=128)
            assert dic.atoms[key].shape[0] == 1 and dic.atoms[key].shape[-1] == s
            torch.testing.assert_close(dic.atoms[key][0], patches[key].mean(0), atol=1e-3, rtol=1e-4)
    assert dic.info["samples_per_component"] == 4      # 2 faces + their mirrors
    path = dic.save(tmp_path / "d.safetensors", half=True)
    back = load_dictionary(path)
    assert back.layers == layers and back.image_size == 128 and back.num_atoms == 1
    for key, atoms in dic.atoms.items():
        torch.testing.assert_close(back.atoms[key], atoms, atol=2e-2 * atoms.abs().max().item(), rtol=1e-2)
    assert len(eval(back.info["mean_landmarks256"])) == 68


def test_kmeans_atoms_are_distinct_cluster_centres(faces):
    hr, landmarks = faces
    dic = build_dictionary([(hr, landmarks)], atoms=3, layers=("relu2_2",), progress=False)
    atoms = dic.atoms["mouth.relu2_2"].flatten(1)
    assert atoms.shape[0] == 3 and torch.cdist(atoms, atoms).triu(1)[0, 1:].min() > 0


def test_too_few_samples_and_wrong_files_are_refused(faces, tmp_path):
    hr, landmarks = faces
    with pytest.raises(ValueError, match="fewer --atoms"):
        build_dictionary([(hr[:1], landmarks[:1])], atoms=4, layers=("relu2_2",), progress=False)
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(WeightsError, match="not a component dictionary"):
        load_dictionary(tmp_path / "other.safetensors")
    with pytest.raises(WeightsError, match="not found"):
        load_dictionary(tmp_path / "missing.safetensors")
    ComponentDictionary({"mouth.relu2_2": torch.zeros(1, 2, 2, 2)}, ("relu2_2",)).save(tmp_path / "part.safetensors")
    with pytest.raises(WeightsError, match="lacks"):
        load_dictionary(tmp_path / "part.safetensors")
