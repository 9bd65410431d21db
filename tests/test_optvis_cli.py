"""`neuronscope featvis`: files written, and bad input as a one-line error."""

from PIL import Image

from neuronscope.cli import main


def test_featvis_writes_grid_and_one_png_per_neuron(tmp_path, capsys):
    out = tmp_path / "fv"
    code = main(["featvis", "efficientnet_lite0", "block6_expand:3", "block5:7@1,1", "--out", str(out),
                 "--steps", "2", "--size", "32", "--diversity", "2"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["block5_7_at1_1.png", "block6_expand_3.png", "grid.png"]
    with Image.open(out / "block6_expand_3.png") as im:
        assert im.size == (2 * 32 + 3 * 2, 32 + 2 * 2)  # its 2 diverse images in a row, 2 px between and around
    with Image.open(out / "grid.png") as im:
        assert im.size == (2 * 32 + 3 * 2, 2 * 32 + 3 * 2)  # one row per neuron
    single = tmp_path / "single"
    assert main(["featvis", "efficientnet_lite0", "3b:1", "--out", str(single), "--steps", "1", "--size", "32"]) == 2
    assert main(["featvis", "efficientnet_lite0", "block6_expand:3", "--out", str(single), "--steps", "1",
                 "--size", "32", "--negative"]) == 0
    with Image.open(single / "block6_expand_3.png") as im:
        assert im.size == (32, 32)  # a lone image is saved as is
    assert "grid.png" in capsys.readouterr().out


def test_featvis_bad_neuron_is_a_one_line_error(tmp_path, capsys):
    code = main(["featvis", "efficientnet_lite0", "block6_expand:99999", "--out", str(tmp_path), "--steps", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1
    assert not any(tmp_path.iterdir())
