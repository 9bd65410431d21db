"""Reading images (any bit depth) as RGB float tensors in [0, 1], shape (3, H, W), and the one
standard view every tool feeds a model (`standard_view`)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from neuronscope.errors import NeuronscopeError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
MIN_SIDE = 8  # smaller images are refused: upsampled to a model's input they show it nothing
# scikit-image's bundled photographs (the product's own offline image set)
SAMPLE_NAMES = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "hubble_deep_field", "retina",
                "immunohistochemistry", "colorwheel", "logo", "camera", "coins", "moon", "page", "text", "horse",
                "brick", "grass", "gravel", "cell", "clock", "microaneurysms")


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """HxW or HxWxC uint8/float array -> (3, H, W) float in [0, 1] (grey repeated, alpha dropped)."""
    a = np.asarray(array)
    if a.dtype == bool:
        a = a.astype(np.float32)
    elif np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float32) / np.iinfo(a.dtype).max
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    if t.dim() == 2:
        t = t.unsqueeze(-1)
    t = t[..., :3].permute(2, 0, 1)
    return t.expand(3, -1, -1).clone() if t.shape[0] == 1 else t.contiguous()


def load_image(path: str | Path) -> torch.Tensor:
    """Read an image file at any bit depth (16-bit and 32-bit integer greys are scaled to [0, 1],
    not clipped); a missing or unreadable file is a NeuronscopeError."""
    return to_tensor(read_pixels(path))


def read_pixels(path: str | Path, at_least: int | None = None) -> np.ndarray:
    """An image file's values at their own depth: (H, W, 3) uint8, or (H, W) uint16 / uint32 /
    float in [0, 1] for high-bit-depth greys (`to_tensor` scales each to [0, 1]). `at_least`: a
    JPEG may be decoded at a reduced DCT scale whose short side is still at least this (faster).
    An image under `MIN_SIDE` pixels on a side is refused."""
    try:
        with Image.open(path) as img:
            check_size(img.size[1], img.size[0], f"image {path}")
            if at_least:
                scale = at_least / min(img.size)
                img.draft("RGB", (math.ceil(img.size[0] * scale), math.ceil(img.size[1] * scale)))
            return _pixels(img)
    except FileNotFoundError:
        raise NeuronscopeError(f"no such image: {path}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise NeuronscopeError(f"cannot read image {path}: {exc}") from None


def check_size(h: int, w: int, what: str = "image") -> None:
    """Refuse an image under `MIN_SIDE` pixels on a side (a 1x1 image would otherwise be upsampled
    to a uniform picture and counted like a photograph)."""
    if min(h, w) < MIN_SIDE:
        raise NeuronscopeError(f"{what} is {w}x{h} pixels; images under {MIN_SIDE} pixels on a side are refused")


def _pixels(img: Image.Image) -> np.ndarray:
    """The image's values at their own depth: uint8 RGB, uint16 grey, or float grey in [0, 1]."""
    if img.mode.startswith("I;16"):
        return np.asarray(img).astype(np.uint16)
    if img.mode == "I":  # 32-bit integers: PNG and TIFF put 16-bit greys here
        a = np.asarray(img).clip(0)
        return a.astype(np.uint16) if a.max() <= 65535 else a.astype(np.uint32)
    if img.mode == "F":
        return np.clip(np.asarray(img, np.float32), 0.0, 1.0)
    return np.asarray(img.convert("RGB"))


def resize_short(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize so the short side is `size` (bilinear, antialiased); a no-op at that size."""
    h, w = image.shape[-2:]
    if min(h, w) == size:
        return image
    scale = size / min(h, w)
    new = (max(size, round(h * scale)), max(size, round(w * scale)))
    batch = image if image.dim() == 4 else image.unsqueeze(0)
    out = F.interpolate(batch, size=new, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
    return out if image.dim() == 4 else out[0]


def center_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """The central `size` square of (..., H, W)."""
    h, w = image.shape[-2:]
    top, left = _crop_offsets(h, w, size)
    return image[..., top:top + size, left:left + size]


def _crop_offsets(h: int, w: int, size: int) -> tuple[int, int]:
    if h < size or w < size:
        raise NeuronscopeError(f"image of {h}x{w} is smaller than the crop {size}")
    return (h - size) // 2, (w - size) // 2  # floor: the convention the reference accuracies use


def standard_view(image, resize: int = 256, size: int = 224) -> torch.Tensor:
    """The one standard view every tool feeds a model (evaluation, prediction, dataset statistics,
    crops, surgery): short side `resize` (bilinear, antialiased), the central `size` square with
    floored offsets, values on the 8-bit grid. `image`: a file path, an (H, W[, C]) array or a
    (3, H, W) tensor in [0, 1]; one under `MIN_SIDE` pixels on a side is refused. Returns (3, size,
    size) float in [0, 1]."""
    if isinstance(image, torch.Tensor):
        check_size(*image.shape[-2:])
        return (center_crop(resize_short(image, resize), size) * 255).round() / 255
    return torch.from_numpy(standard_view_uint8(image, resize, size)).permute(2, 0, 1).float() / 255


def standard_view_uint8(image, resize: int = 256, size: int = 224) -> np.ndarray:
    """`standard_view` as (size, size, 3) uint8, exactly its values times 255 (a quarter of the
    bytes, for carrying images between processes)."""
    if isinstance(image, torch.Tensor):
        view = standard_view(image, resize, size)
    else:
        pixels = read_pixels(image, at_least=resize) if isinstance(image, (str, Path)) else np.asarray(image)
        h, w = pixels.shape[:2]
        check_size(h, w)
        if pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3 and min(h, w) == resize:
            top, left = _crop_offsets(h, w, size)  # already at the size: crop the 8-bit values directly
            return pixels[top:top + size, left:left + size].copy()
        view = center_crop(resize_short(to_tensor(pixels), resize), size)
    return (view * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def list_images(folder: str | Path) -> list[Path]:
    """Image files under `folder`, recursively, in sorted order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NeuronscopeError(f"not a folder: {folder}")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def sample_images(min_size: int = 224) -> list[tuple[str, torch.Tensor]]:
    """scikit-image's bundled photographs as (name, image), those at least `min_size` on the short side."""
    import skimage.data

    out = []
    for name in SAMPLE_NAMES:
        try:
            image = to_tensor(getattr(skimage.data, name)())
        except Exception:  # noqa: BLE001 - an optional sample that this scikit-image cannot provide
            continue
        if min(image.shape[-2:]) >= min_size:
            out.append((name, image))
    return out
