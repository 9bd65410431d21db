"""Robustness transforms: shapes, exact geometry, and determinism under a seed."""

import pytest
import torch

from neuronscope.errors import NeuronscopeError
from neuronscope.optvis import transforms as T


def images(n=2, h=20, w=20, seed=0):
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_pad_fills_a_grey_border():
    x = images()
    y = T.Pad(3, value=0.5)(x, gen())
    assert y.shape == (2, 3, 26, 26)
    assert torch.equal(y[..., 3:-3, 3:-3], x)
    border = torch.ones(26, 26, dtype=torch.bool)
    border[3:-3, 3:-3] = False
    assert torch.all(y[..., border] == 0.5)


def test_jitter_is_a_window_of_the_input():
    x = images()
    y = T.Jitter(4)(x, gen(3))
    assert y.shape == (2, 3, 16, 16)
    offsets = [(oy, ox) for oy in range(5) for ox in range(5) if torch.equal(x[..., oy:oy + 16, ox:ox + 16], y)]
    assert len(offsets) == 1
    with pytest.raises(NeuronscopeError):
        T.Jitter(0)


def test_scale_resizes_and_rotation_keeps_size():
    x = images(h=20, w=30)
    assert T.RandomScale([1.5])(x, gen()).shape == (2, 3, 30, 45)
    assert T.RandomScale([1.0])(x, gen()) is x
    assert T.RandomRotate([7])(x, gen()).shape == x.shape


def test_rotation_is_counter_clockwise():
    x = images(h=9, w=9)
    assert torch.allclose(T.rotate(x, 90), torch.rot90(x, 1, dims=(-2, -1)), atol=1e-5)
    assert torch.allclose(T.rotate(x, -90), torch.rot90(x, -1, dims=(-2, -1)), atol=1e-5)
    assert torch.allclose(T.rotate(x, 180), torch.flip(x, dims=(-2, -1)), atol=1e-5)
    dot = torch.zeros(1, 3, 9, 9)
    dot[..., 4, 7] = 1  # right of the centre (+x)
    assert T.rotate(dot, 90)[0, 0].argmax() == 1 * 9 + 4  # now above it (+y is up): row 1, column 4


def test_standard_transforms_are_lucids_and_deterministic_with_a_seed():
    std = T.standard()
    kinds = [type(t) for t in std.transforms]
    assert kinds == [T.Pad, T.Jitter, T.RandomScale, T.RandomRotate, T.Jitter]
    assert std.transforms[0].width == 12 and std.transforms[1].d == 8 and std.transforms[4].d == 4
    assert min(std.transforms[2].scales) == pytest.approx(0.9) and max(std.transforms[2].scales) == pytest.approx(1.1)
    assert set(std.transforms[3].angles) == set(range(-10, 11))
    x = images(h=32, w=32)
    g1, g2 = gen(7), gen(7)
    runs1 = [std(x, g1) for _ in range(5)]
    runs2 = [std(x, g2) for _ in range(5)]
    assert all(torch.equal(a, b) for a, b in zip(runs1, runs2))
    assert all(a.shape[:2] == (2, 3) and a.shape[2] == a.shape[3] for a in runs1)
    # 32 + 24 - 8 = 48, scaled by 0.9..1.1 (43..53), minus 4
    assert all(39 <= a.shape[-1] <= 49 for a in runs1)
    assert len({(a.shape, float(a.sum())) for a in runs1}) > 1  # the draws differ from step to step


def test_resolve():
    x = images()
    assert torch.equal(T.resolve(None)(x, gen()), x)
    assert T.resolve("standard")(x, gen()).shape[0] == 2
    assert T.resolve([T.Pad(1)])(x, gen()).shape[-1] == 22
    with pytest.raises(NeuronscopeError):
        T.resolve("fancy")


@pytest.mark.parametrize("seed", range(6))
def test_planned_transforms_draw_like_a_call_and_crop_exactly(seed):
    """Drawing ahead consumes the generator exactly as a call does; the planned images equal the
    call's, and a region of them equals the same crop of the whole transformed image (forward
    bit for bit, gradients to float rounding), computed without the rest of the rotation."""
    t = T.standard()
    x = torch.rand(2, 3, 40, 44, generator=torch.Generator().manual_seed(100 + seed), requires_grad=True)
    g_call, g_plan = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    whole = t(x, g_call)
    planned = t.plan(g_plan, 40, 44)
    assert torch.equal(g_call.get_state(), g_plan.get_state())
    assert planned.size == tuple(whole.shape[-2:])
    assert torch.equal(planned.apply(x), whole)
    h, w = planned.size
    region = (3, h - 5, 7, w - 2)
    part = planned.apply(x, region)
    crop = whole[..., 3:h - 5, 7:w - 2]
    assert torch.equal(part, crop)
    weights = torch.rand(crop.shape, generator=torch.Generator().manual_seed(seed))
    g_part, = torch.autograd.grad((part * weights).sum(), x)
    g_whole, = torch.autograd.grad((crop * weights).sum(), x)
    assert g_whole.abs().max() > 0
    torch.testing.assert_close(g_part, g_whole, rtol=1e-5, atol=1e-6)


def test_a_rotation_samples_only_its_region():
    x = torch.rand(1, 3, 30, 30)
    assert torch.equal(T.rotate(x, 7.0, (4, 20, 2, 29)), T.rotate(x, 7.0)[..., 4:20, 2:29])
    assert torch.equal(T.rotate(x, 0.0, (4, 20, 2, 29)), x[..., 4:20, 2:29])


def test_user_transforms_are_not_planned():
    assert T.Compose([T.Pad(2), lambda images, generator: images]).plan(torch.Generator(), 8, 8) is None
