"""Neuron ids, image reading and receptive-field crops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import neuronscope as ns
from neuronscope.errors import NeuronscopeError
from neuronscope.images import center_crop, load_image, to_tensor


def test_parse_neuron_forms(inception):
    assert ns.parse_neuron("mixed3b:379") == ns.Neuron("mixed3b", 379, None)
    assert ns.parse_neuron("3b:379", inception) == ns.Neuron("mixed3b", 379, None)
    assert ns.parse_neuron("mixed3b:379@14,3", inception).position == (14, 3)
    assert str(ns.parse_neuron("mixed3b:379@14,3")) == "mixed3b:379@14,3"


@pytest.mark.parametrize("text, message", [("mixed3b", "bad neuron id"), ("mixed3b:480", "480 units"),
                                           ("mixed9z:1", "unknown layer 'mixed9z'"),
                                           ("mixed3b:1@28,0", "outside")])
def test_parse_neuron_errors(inception, text, message):
    with pytest.raises(NeuronscopeError, match=message):
        ns.parse_neuron(text, inception)


def test_center_crop_floors_offsets():
    img = torch.arange(5 * 8, dtype=torch.float32).reshape(1, 5, 8).expand(3, 5, 8)
    crop = center_crop(img, 2)
    assert crop[0, 0, 0].item() == img[0, 1, 3].item()  # (5-2)//2 = 1, (8-2)//2 = 3


def test_grey_and_alpha_images_become_rgb(tmp_path):
    grey = np.array([[0, 255]], dtype=np.uint8)
    assert to_tensor(grey).tolist() == [[[0.0, 1.0]]] * 3
    Image.fromarray(np.zeros((8, 8, 4), dtype=np.uint8)).save(tmp_path / "a.png")
    assert load_image(tmp_path / "a.png").shape == (3, 8, 8)


def test_corrupt_image_is_clear_error(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(NeuronscopeError, match="cannot read image"):
        load_image(tmp_path / "bad.jpg")


def test_crop_to_field_pads_outside(effnet):
    rf = effnet.receptive_field("block6_expand", 224)
    img = torch.rand(3, 224, 224)
    crop = ns.crop_to_field(img, rf, 0, 0)
    top, left, _, _ = rf.box(0, 0)
    assert crop.shape == (3, *rf.size)
    assert torch.all(crop[:, : -top, :] == 0) and torch.all(crop[:, :, : -left] == 0)
    torch.testing.assert_close(crop[:, -top:, -left:], img[:, : rf.size[0] + top, : rf.size[1] + left])
