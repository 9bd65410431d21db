"""Objectives against hand computations (numpy) on fixed activations, and the redirected ReLU."""

import numpy as np
import pytest
import scipy.ndimage
import torch

from neuronscope.errors import NeuronscopeError
from neuronscope.optvis import objectives as O
from neuronscope.optvis.relu import activate


@pytest.fixture
def acts():
    g = torch.Generator().manual_seed(0)
    return {"a": torch.randn(3, 5, 7, 6, generator=g), "b": torch.randn(3, 4, 5, 5, generator=g)}


def np_(t):
    return t.detach().numpy().astype(np.float64)


def test_unit_objectives_match_hand_computation(acts):
    a = np_(acts["a"])
    assert np.allclose(np_(O.neuron("a", 2)(acts)), -a[:, 2, 3, 2])  # central position of a 7x6 grid
    assert np.allclose(np_(O.neuron("a", 2, position=(1, 4))(acts)), -a[:, 2, 1, 4])
    assert np.allclose(np_(O.neuron("a", 2, position=(50, 50))(acts)), -a[:, 2, 6, 5])  # clipped to the grid
    assert np.allclose(np_(O.channel("a", 4)(acts)), -a[:, 4].mean(axis=(1, 2)))
    v = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    per_position = (a * v[None, :, None, None]).sum(axis=1)
    assert np.allclose(np_(O.direction("a", v)(acts)), -per_position.mean(axis=(1, 2)), atol=1e-5)
    assert np.allclose(np_(O.direction("a", v, position="center")(acts)), -per_position[:, 3, 2], atol=1e-5)
    assert np.allclose(np_(O.direction("a", v, position=(0, 1))(acts)), -per_position[:, 0, 1], atol=1e-5)
    vs = np.array([[1.0, 0, 0, 0, 0], [0, 0, 0, 2.0, 0], [0.5, -1.0, 0, 0, 1.0]])  # one direction per image
    own = np.einsum("nchw,nc->nhw", a, vs)
    assert np.allclose(np_(O.direction("a", vs, position="center")(acts)), -own[:, 3, 2], atol=1e-5)
    assert O.direction("a", vs).batch_size == 3
    two = np_(O.direction("a", vs[:2], batch=[2, 0])(acts))  # rows follow the batch indices
    expected = [-np.einsum("chw,c->hw", a[0], vs[1]).mean(), 0, -np.einsum("chw,c->hw", a[2], vs[0]).mean()]
    assert np.allclose(two, expected, atol=1e-5)
    with pytest.raises(NeuronscopeError):
        O.direction("a", vs[:2])(acts)  # 2 directions, 3 images
    combo = O.neurons({("a", 1): 2.0, "a:3@2,2": -1.0, ("b", 0, (4, 4)): 0.5})
    assert np.allclose(np_(combo(acts)), -2 * a[:, 1, 3, 2] + a[:, 3, 2, 2] - 0.5 * np_(acts["b"])[:, 0, 4, 4])
    assert combo.layers == {"a", "b"}


def test_algebra(acts):
    a, b, c = O.neuron("a", 0), O.channel("b", 1), O.direction("a", torch.ones(5))
    la, lb, lc = (np_(o(acts)) for o in (a, b, c))
    assert np.allclose(np_((a + 2 * b)(acts)), la + 2 * lb)
    assert np.allclose(np_((a - b / 4 + c * 3)(acts)), la - lb / 4 + 3 * lc)
    assert np.allclose(np_((-a)(acts)), -la)
    assert np.allclose(np_(sum([a, b, c])(acts)), la + lb + lc)
    assert (a + 2 * b).layers == {"a", "b"} and (2 * a).layers == {"a"}
    product = a * b  # lucid's product: of the values (minus the losses), so maximising both units at once
    assert np.allclose(np_(product(acts)), -((-la) * (-lb))) and product.layers == {"a", "b"}
    assert np.allclose(np_((2 * a * b)(acts)), -2 * la * lb) and np_(product(acts)).shape == la.shape
    with pytest.raises(TypeError):
        a * "b"


def test_batch_targets_only_its_images(acts):
    a = np_(acts["a"])
    out = np_(O.neuron("a", 2, batch=1)(acts))
    assert out[0] == 0 and out[2] == 0 and np.isclose(out[1], -a[1, 2, 3, 2])
    obj = O.channel("a", 0, batch=[0, 2]) + O.neuron("b", 3, batch=2)
    assert obj.batch_size == 3
    with pytest.raises(NeuronscopeError):
        O.neuron("a", 0, batch=5)(acts)
    with pytest.raises(NeuronscopeError):
        O.neuron("a", 0, batch=-1)


def test_batched_objective_equals_single_objectives(acts):
    units = [0, 3, 1]
    batched = sum(O.neuron("a", u, batch=i) - 0.1 * O.channel("b", u, batch=i) for i, u in enumerate(units))
    single = [O.neuron("a", u) - 0.1 * O.channel("b", u) for u in units]
    alone = [{k: v[i:i + 1] for k, v in acts.items()} for i in range(3)]
    expected = [float(single[i](alone[i])[0]) for i in range(3)]
    assert np.allclose(np_(batched(acts)), expected, atol=1e-6)


def test_spatial_field_dot_product_and_centre_alignment(acts):
    b = np_(acts["b"])  # grid 5x5
    g = torch.Generator().manual_seed(1)
    same = torch.randn(4, 5, 5, generator=g)
    assert np.allclose(np_(O.spatial("b", same)(acts)), -(b * np_(same)[None]).sum(axis=(1, 2, 3)), atol=1e-5)
    small = torch.randn(4, 3, 3, generator=g)  # aligned with the central 3x3 of the 5x5 grid
    assert np.allclose(np_(O.spatial("b", small)(acts)),
                       -(b[:, :, 1:4, 1:4] * np_(small)[None]).sum(axis=(1, 2, 3)), atol=1e-5)


def lucid_diversity(x):
    """Lucid's diversity(): sum over ordered pairs i != j of the cosine of Gram matrices, / n."""
    n = x.shape[0]
    flat = x.reshape(n, x.shape[1], -1)
    grams = [f @ f.T for f in flat]
    grams = [g / np.linalg.norm(g) for g in grams]
    return sum((grams[i] * grams[j]).sum() for i in range(n) for j in range(n) if i != j) / n


def test_diversity_matches_lucid(acts):
    per_image = np_(O.diversity("a")(acts))
    assert np.isclose(per_image.sum(), lucid_diversity(np_(acts["a"])), atol=1e-6)
    same = {"a": acts["a"][:1].repeat(4, 1, 1, 1)}
    assert np.allclose(np_(O.diversity("a")(same)), 3 / 4, atol=1e-6)  # identical images: cos = 1
    group = np_(O.diversity("a", batch=[0, 2])(acts))
    assert group[1] == 0
    assert np.isclose(group.sum(), lucid_diversity(np_(acts["a"])[[0, 2]]), atol=1e-6)


def test_regularisers_match_hand_computation():
    image = torch.rand(2, 3, 6, 5, generator=torch.Generator().manual_seed(2), requires_grad=True)
    x = np_(image)
    tv = np.abs(np.diff(x, axis=2)).sum(axis=(1, 2, 3)) + np.abs(np.diff(x, axis=3)).sum(axis=(1, 2, 3))
    assert np.allclose(np_(O.total_variation()(acts={}, image=image)), tv, atol=1e-5)
    assert np.allclose(np_(O.l1(0.25)({}, image)), np.abs(x - 0.25).sum(axis=(1, 2, 3)), atol=1e-5)
    # blur: gradient is image - 3x3 box blur (mean of the neighbours inside the image)
    box = lambda t: scipy.ndimage.uniform_filter(t, size=(1, 1, 3, 3), mode="constant") * 9  # noqa: E731
    blurred = box(x) / box(np.ones_like(x))
    (grad,) = torch.autograd.grad(O.blur()({}, image).sum(), image)
    assert np.allclose(np_(grad), x - blurred, atol=1e-5)
    with pytest.raises(NeuronscopeError):
        O.l1()({"a": torch.zeros(1, 1, 1, 1)})


def grad_of(x, activation, redirect, g):
    x = x.clone().requires_grad_(True)
    y = activate(x, activation, redirect)
    (gx,) = torch.autograd.grad(y, x, grad_outputs=g)
    return y.detach(), gx


def test_redirected_relu_gradient():
    x = torch.tensor([[-1.0, 2.0, -3.0], [-1.0, -2.0, -0.5]])  # row 0 alive, row 1 dead
    g = torch.tensor([[-1.0, -1.0, 1.0], [-1.0, 1.0, -2.0]])  # g < 0 pushes the value up
    y, gx = grad_of(x, "relu", True, g)
    assert torch.equal(y, x.clamp(min=0))
    assert torch.equal(gx[0], torch.tensor([0.0, -1.0, 0.0]))  # alive: the ordinary ReLU gradient
    assert torch.equal(gx[1], torch.tensor([-1.0, 0.0, -2.0]))  # dead: passes, unless pushing lower
    _, plain = grad_of(x, "relu", False, g)
    assert torch.equal(plain[1], torch.zeros(3))
    x6 = torch.tensor([[7.0, 8.0], [7.0, 3.0]])
    y6, g6 = grad_of(x6, "relu6", True, torch.tensor([[-1.0, 1.0], [-1.0, 1.0]]))
    assert torch.equal(y6, x6.clamp(0, 6))
    assert torch.equal(g6[0], torch.tensor([0.0, 1.0]))  # saturated: may only come back down
    assert torch.equal(g6[1], torch.tensor([0.0, 1.0]))  # 3.0 is in range: ordinary gradient


def test_redirected_neuron_objective_escapes_a_dead_unit():
    pre = {"a": torch.full((2, 3, 5, 5), -4.0, requires_grad=True)}
    for redirect, expected in ((True, -1.0), (False, 0.0)):
        loss = O.neuron("a", 1, activation="relu", redirect=redirect)(pre)
        assert torch.equal(loss.detach(), torch.zeros(2))
        (grad,) = torch.autograd.grad(loss.sum(), pre["a"])
        assert grad[:, 1, 2, 2].tolist() == [expected, expected] and grad.abs().sum() == abs(expected) * 2
