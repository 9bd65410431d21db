"""The one standard view: the dataset pipeline and evaluation/prediction see exactly the same
pixels, centre-cropped with floored offsets, for images of every width and height parity; and
high-bit-depth images are scaled, not clipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from neuronscope.images import load_image, standard_view
from neuronscope.images import standard_view_uint8
from neuronscope.errors import NeuronscopeError


def _by_parity(folder: Path, per_class: int = 2) -> dict[tuple[int, int], list[Path]]:
    out: dict[tuple[int, int], list[Path]] = {}
    for path in sorted(folder.glob("*.jpg")):
        with Image.open(path) as img:
            w, h = img.size
        chosen = out.setdefault((h % 2, w % 2), [])
        if len(chosen) < per_class:
            chosen.append(path)
    return out


def test_sample_images_of_every_parity_get_the_floored_centre_crop(shared):
    sample = shared / "data" / "imagenet-sample"
    classes = _by_parity(sample)
    classes[(0, 1)].append(sample / "n01592084.jpg")  # 383x256: rounded offsets used to shift it by a pixel
    assert {(1, 0), (0, 1), (0, 0)} <= set(classes)  # odd heights and odd widths are both covered
    for path in (p for paths in classes.values() for p in paths):
        with Image.open(path) as img:
            pixels = np.asarray(img.convert("RGB"))  # the sample is stored with its short side at 256
        h, w, _ = pixels.shape
        assert min(h, w) == 256
        top, left = (h - 224) // 2, (w - 224) // 2
        expected = pixels[top:top + 224, left:left + 224]
        np.testing.assert_array_equal(standard_view_uint8(str(path), 256, 224), expected, err_msg=path.name)
        view = standard_view(path)
        assert view.shape == (3, 224, 224) and view.dtype == torch.float32
        np.testing.assert_array_equal((view * 255).round().byte().permute(1, 2, 0).numpy(), expected)


@pytest.mark.parametrize("h, w", [(301, 451), (300, 451), (301, 450), (300, 450), (450, 301)])
def test_resized_images_are_identical_in_both_pipelines(tmp_path, h, w):
    rng = np.random.default_rng(h * 1000 + w)
    pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    path = tmp_path / f"{h}x{w}.png"
    Image.fromarray(pixels).save(path)
    stats_view = standard_view_uint8(str(path), 256, 224)       # what dataset statistics, quilts and crops see
    eval_view = standard_view(str(path))            # what eval, predict and surgery see
    array_view = standard_view_uint8(pixels, 256, 224)           # a bundled array, as the samples source gives it
    assert stats_view.shape == (224, 224, 3)
    np.testing.assert_array_equal(stats_view, (eval_view * 255).round().byte().permute(1, 2, 0).numpy())
    np.testing.assert_array_equal(stats_view, array_view)
    # the short side becomes 256, then the floored centre: a constant image stays constant
    Image.fromarray(np.full((h, w, 3), 77, np.uint8)).save(path)
    assert np.all(standard_view_uint8(str(path), 256, 224) == 77)


def test_sixteen_bit_grey_png_is_scaled_not_clipped(tmp_path):
    y, x = np.mgrid[0:260, 0:300]
    grey = ((x * 211 + y * 97) % 65536).astype(np.uint16)  # values across the whole 16-bit range
    path = tmp_path / "grey16.png"
    Image.fromarray(grey).save(path)
    with Image.open(path) as img:
        assert img.mode == "I;16"  # the file really is 16-bit
    image = load_image(path)
    assert image.shape == (3, 260, 300)
    np.testing.assert_allclose(image[0].numpy(), grey / 65535.0, rtol=0, atol=1e-6)
    assert torch.equal(image[0], image[2])
    resized = standard_view_uint8(str(path), 256, 224)  # as `stats` and `predict` see it
    assert 60 < resized.mean() < 195 and resized.std() > 50  # not all white
    expected = np.round(grey[2:258, 22:278] / 65535 * 255)  # short side already 260: the floored crop only
    np.testing.assert_array_equal(standard_view_uint8(str(path), 260, 256)[..., 0], expected)


@pytest.mark.parametrize("h, w", [(1, 1), (7, 300), (300, 2)])
def test_images_under_eight_pixels_a_side_are_refused(tmp_path, h, w):
    """Upsampled to the model's input, a 1x1 image is a uniform picture: refused by every reader,
    as a file, an array or a tensor, with its size in the message."""
    pixels = np.full((h, w, 3), 90, np.uint8)
    path = tmp_path / "small.png"
    Image.fromarray(pixels).save(path)
    for read in (load_image, standard_view, lambda p: standard_view_uint8(p, 256, 224)):
        with pytest.raises(NeuronscopeError, match=f"small.png is {w}x{h} pixels; images under 8 pixels"):
            read(path)
    for image in (pixels, torch.full((3, h, w), 0.5)):
        with pytest.raises(NeuronscopeError, match=f"{w}x{h} pixels"):
            standard_view(image)


def test_eight_pixels_a_side_is_enough(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (8, 12, 3), dtype=np.uint8)
    path = tmp_path / "eight.png"
    Image.fromarray(pixels).save(path)
    np.testing.assert_allclose(load_image(path).permute(1, 2, 0).numpy(), pixels / 255.0, rtol=0, atol=1e-6)
    assert standard_view(path, 16, 16).shape == (3, 16, 16)
