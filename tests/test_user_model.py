"""The user's own model on the command line and in `load_model`: `file.py:build`, `pkg.module:build`,
returning a Model, a bare nn.Module or an (nn.Module, preprocess) pair."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import neuronscope as ns
from neuronscope.errors import NeuronscopeError

ROOT = Path(__file__).resolve().parents[1]

NET = textwrap.dedent('''
    import torch
    from torch import nn
    import neuronscope as ns


    def net():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(4, 6, 5, stride=2),
                             nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3))


    def bare():
        return net()


    def pair():
        return net(), lambda x: x * 2 - 1


    def model():
        return ns.wrap(net(), layers={"0": "relu", "2": "relu"}, name="mine")


    def with_weights(weights=None):
        n = net()
        n.load_state_dict(torch.load(weights, weights_only=True))
        return n


    def nothing():
        return 3
''')


@pytest.fixture
def user_file(tmp_path) -> Path:
    path = tmp_path / "mynet.py"
    path.write_text(NET)
    return path


def cli(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "neuronscope", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env)


def test_load_model_accepts_each_kind_of_build_function(user_file):
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    bare = ns.load_model(f"{user_file}:bare")
    pair = ns.load_model(f"{user_file}:pair")
    mine = ns.load_model(f"{user_file}:model")
    net = bare.net
    with torch.no_grad():
        torch.testing.assert_close(bare(x), net(x))                       # inputs taken as given
        torch.testing.assert_close(pair(x), pair.net(x * 2 - 1))          # the pair's preprocess applied
        pre = mine.capture(x, ["0"], pre_relu=True)["0"]
        torch.testing.assert_close(mine.capture(x, ["0"])["0"], pre.clamp(min=0))
    assert bare.name == f"{user_file}:bare" and mine.name == "mine" and mine.layers == ["0", "2", "logits"]


def test_weights_reach_a_build_function_that_takes_them(user_file, tmp_path):
    net = ns.load_model(f"{user_file}:bare").net
    state = {k: v + 1 for k, v in net.state_dict().items()}
    torch.save(state, tmp_path / "w.pt")
    loaded = ns.load_model(f"{user_file}:with_weights", weights=tmp_path / "w.pt")
    torch.testing.assert_close(loaded.net[0].weight, state["0.weight"])
    with pytest.raises(NeuronscopeError, match="takes no `weights` argument"):
        ns.load_model(f"{user_file}:bare", weights=tmp_path / "w.pt")


def test_bad_user_models_are_one_line_errors(user_file):
    with pytest.raises(NeuronscopeError, match="returned int; expected a neuronscope.Model"):
        ns.load_model(f"{user_file}:nothing")
    with pytest.raises(NeuronscopeError, match="has no function 'missing'"):
        ns.load_model(f"{user_file}:missing")
    with pytest.raises(NeuronscopeError, match="no such file"):
        ns.load_model(f"{user_file.parent / 'nope.py'}:build")
    with pytest.raises(NeuronscopeError, match="or your own as FILE.py:FUNCTION"):
        ns.load_model("resnet18")


def test_cli_file_and_module_forms(user_file):
    """`info` on the file form; the package form from the working folder; errors exit 2 in one line."""
    out = cli("info", f"{user_file}:bare", "--size", "32")
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines()[2:]}
    assert rows["2"][-3:] == ["7", "2", "-1"]  # 3x3 (pad 1) then 5x5 stride 2 (no pad): 7 px, stride 2, start -1
    package = user_file.parent / "userpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(NET)
    out = cli("info", "userpkg.nets:pair", "--size", "32", cwd=user_file.parent)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("userpkg.nets:pair: 739 parameters")
    out = cli("info", f"{user_file}:nothing")
    assert out.returncode == 2 and out.stderr.strip().count("\n") == 0 and out.stderr.startswith("error:")
