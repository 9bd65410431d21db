"""Image parameterisations: the tensors the optimiser changes, and how they become RGB images.

`FourierImage` keeps each image as a 2-D spectrum whose frequencies are scaled by 1/f (so the
optimiser sees roughly whitened natural-image statistics), `PixelImage` keeps raw pixels. Both
keep colour in a decorrelated basis and map it to RGB with the square root of ImageNet's colour
correlation matrix, then squash it into [0, 1] with a sigmoid or a clamp. Every image of the batch
starts from its own seeded noise.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from neuronscope.errors import NeuronscopeError

# Square root (U * sqrt(S) of its SVD) of the 3x3 correlation matrix of ImageNet pixel colours,
# as published with lucid; columns are (approximately orthogonal) colour axes.
COLOR_CORRELATION_SVD_SQRT = ((0.26, 0.09, 0.02),
                              (0.27, 0.00, -0.05),
                              (0.27, -0.09, 0.03))
# Mean ImageNet colour, the centre of the clamped output.
COLOR_MEAN = (0.48, 0.46, 0.41)
OUTPUTS = ("sigmoid", "clamp")


def color_matrix() -> torch.Tensor:
    """The decorrelated-colour -> RGB matrix: the correlation square root scaled so its
    largest column has unit norm (a unit step in any decorrelated axis moves RGB by at most 1)."""
    m = torch.tensor(COLOR_CORRELATION_SVD_SQRT)
    return m / m.norm(dim=0).max()


class ImageParam(nn.Module):
    """A batch of images as trainable parameters; calling it returns (N, 3, H, W) RGB in [0, 1].

    `seeds` gives one seed per image (the batch size is its length), so image i always starts
    from the same noise whatever else is in the batch. `output` is "sigmoid" or "clamp" (clamp
    adds `COLOR_MEAN` first so zero maps to mean grey-brown instead of black).
    """

    def __init__(self, size: int | tuple[int, int], seeds: Sequence[int], decorrelate: bool = True,
                 output: str = "sigmoid"):
        super().__init__()
        if output not in OUTPUTS:
            raise NeuronscopeError(f"unknown output {output!r}; use one of {', '.join(OUTPUTS)}")
        if not seeds:
            raise NeuronscopeError("an image parameterisation needs at least one seed")
        self.size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        self.seeds = [int(s) for s in seeds]
        self.decorrelate = decorrelate
        self.output = output
        self.register_buffer("colors", color_matrix())
        self.register_buffer("mean", torch.tensor(COLOR_MEAN).view(1, 3, 1, 1))

    def _noise(self, shape: tuple[int, ...], sd: float) -> torch.Tensor:
        """(N, *shape) normal noise of standard deviation sd, row i drawn from seeds[i]."""
        return torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(s)) * sd
                            for s in self.seeds])

    def raw(self) -> torch.Tensor:
        """The unconstrained (N, 3, H, W) image in the decorrelated colour basis."""
        raise NotImplementedError

    def forward(self) -> torch.Tensor:
        t = self.raw()
        if self.decorrelate:
            t = torch.einsum("ij,njhw->nihw", self.colors, t)
        if self.output == "sigmoid":
            return torch.sigmoid(t)
        return (t + self.mean).clamp(0, 1)


class PixelImage(ImageParam):
    """One parameter per pixel and colour channel (lucid's pixel_image), initialised N(0, sd)."""

    def __init__(self, size, seeds, sd: float = 0.01, decorrelate: bool = True, output: str = "sigmoid"):
        super().__init__(size, seeds, decorrelate, output)
        self.pixels = nn.Parameter(self._noise((3, *self.size), sd))

    def raw(self) -> torch.Tensor:
        return self.pixels


def spectrum_scale(h: int, w: int, decay_power: float = 1.0) -> torch.Tensor:
    """1 / f^decay_power for every frequency of an (h, w) real FFT (shape (h, w // 2 + 1)),
    with f in cycles per pixel and floored at 1 / max(h, w) so the DC term stays finite."""
    fy = torch.fft.fftfreq(h).view(-1, 1)
    fx = torch.fft.rfftfreq(w).view(1, -1)
    f = (fx ** 2 + fy ** 2).sqrt()
    return 1.0 / f.clamp(min=1.0 / max(h, w)) ** decay_power


class FourierImage(ImageParam):
    """Images as real-FFT spectra (lucid's fft_image): parameter (N, 3, H, W//2+1, 2) holding the
    real and imaginary parts, initialised N(0, sd); the image is the orthonormal inverse FFT of
    spectrum * 1/f^decay_power, divided by 4 (lucid's constant, keeping the initial image near 0)."""

    def __init__(self, size, seeds, sd: float = 0.01, decay_power: float = 1.0, decorrelate: bool = True,
                 output: str = "sigmoid"):
        super().__init__(size, seeds, decorrelate, output)
        h, w = self.size
        self.spectrum = nn.Parameter(self._noise((3, h, w // 2 + 1, 2), sd))
        self.register_buffer("scale", spectrum_scale(h, w, decay_power))

    def raw(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        return torch.fft.irfftn(spectrum, s=self.size, dim=(-2, -1), norm="ortho") / 4.0


PARAMS = {"fourier": FourierImage, "pixel": PixelImage}


def make_param(kind: str, size, seeds: Sequence[int], **kwargs) -> ImageParam:
    """Build a parameterisation by name ("fourier" or "pixel")."""
    if kind not in PARAMS:
        raise NeuronscopeError(f"unknown parameterisation {kind!r}; use one of {', '.join(PARAMS)}")
    return PARAMS[kind](size, seeds, **kwargs)
