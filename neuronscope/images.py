"""Reading images as RGB float tensors in [0, 1], shape (3, H, W), and the standard crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from neuronscope.errors import NeuronscopeError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
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
    """Read an image file; a missing or unreadable file is a NeuronscopeError."""
    try:
        with Image.open(path) as img:
            return to_tensor(np.asarray(img.convert("RGB")))
    except FileNotFoundError:
        raise NeuronscopeError(f"no such image: {path}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise NeuronscopeError(f"cannot read image {path}: {exc}") from None


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
    h, w = image.shape[-2:]
    if h < size or w < size:
        raise NeuronscopeError(f"image of {h}x{w} is smaller than the crop {size}")
    top, left = (h - size) // 2, (w - size) // 2  # floor: the convention the reference accuracies use
    return image[..., top:top + size, left:left + size]


def classifier_input(image: torch.Tensor, resize: int = 256, crop: int = 224) -> torch.Tensor:
    """The standard evaluation view: short side `resize`, centre crop `crop`."""
    return center_crop(resize_short(image, resize), crop)


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
