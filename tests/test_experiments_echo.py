"""The echo experiment: the edited tuning equals the original minus the removed weights' share."""

from __future__ import annotations

import numpy as np
import torch

from neuronscope.experiments.echo import echo_experiment, plot_echo
from neuronscope.families import Family
from neuronscope.tuning import curve_tuning, make_probe
from neuronscope.tuning.units import Units

SWEEP = dict(orientations=np.arange(0, 360, 45.0), radii=[0.25, 0.5])


def test_edited_tuning_loses_exactly_the_negative_inputs(effnet):
    early = Family.from_units((28, 26, 0), (38.6, 217.8, 250.7), name="early")
    late = Family.from_units((36, 455, 391), (4.1, 18.7, 180.2), name="late")
    sds = Units(np.zeros(480), np.full(480, 2.0), "half the raw value")
    result = echo_experiment(effnet, "block5", "block6_expand", early, late, sds=sds, **SWEEP)
    assert "convolution _blocks.6._expand_conv" in result.edit_log[0]
    # block5 -> block6_expand is a 1x1 conv + batch-norm; block5 has the same field, so the same stimuli
    block = effnet.net._blocks[6]
    bn = block._bn0
    folded = (block._expand_conv.weight[:, :, 0, 0] * (bn.weight / torch.sqrt(bn.running_var + bn.eps))[:, None])
    w = folded.detach().double().numpy()[np.ix_(late.units, early.units)]
    source = curve_tuning(make_probe(effnet, "block5"), list(early.units), scale=sds, **SWEEP).raw
    removed = source @ np.minimum(w, 0).T
    np.testing.assert_allclose(result.after.raw, result.before.raw - removed, atol=2e-4, rtol=1e-4)
    np.testing.assert_allclose(result.after.z, result.after.raw / 2)
    echoes = result.echoes(result.after)
    assert echoes.shape == (3,) and np.all((echoes >= 0) & (echoes <= 1))
    summary = result.summary()
    assert [row["unit"] for row in summary["per_unit"]] == [36, 455, 391]
    assert summary["mean_echo_after"] == round(float(echoes.mean()), 4)
    assert "linear approximation" in plot_echo(result).get_suptitle()
