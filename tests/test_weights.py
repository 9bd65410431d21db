"""Download, verification and caching of InceptionV1 weights, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest

import neuronscope as ns
from neuronscope.errors import WeightsError


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, bytes, int | None]] = {}
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        self.hits.append(self.path)
        status, body, length = self.routes.get(self.path, (404, b"not found", None))
        self.send_response(status)
        self.send_header("Content-Length", str(length if length is not None else len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server(inception_file):
    good = Path(inception_file).read_bytes()
    _Handler.routes = {
        "/good.pth": (200, good, None),
        "/truncated.pth": (200, good[: len(good) // 2], len(good)),  # connection closes early
        "/garbage.pth": (200, b"not a pickle at all" * 100, None),
    }
    _Handler.hits = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURONSCOPE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _load(url, monkeypatch):
    monkeypatch.setenv("NEURONSCOPE_INCEPTIONV1_URL", url)
    return ns.load_model("inceptionv1", progress=False)


def test_download_then_cache(server, cache, monkeypatch, inception_file):
    model = _load(server + "/good.pth", monkeypatch)
    assert (cache / "inception5h.pth").read_bytes() == Path(inception_file).read_bytes()
    assert (cache / "inception5h.pth.sha256.json").exists()
    _load(server + "/good.pth", monkeypatch)
    assert _Handler.hits == ["/good.pth"]  # second load came from the cache
    assert model.layer_shapes(64)["mixed3b"][0] == 480


def test_changed_cache_file_is_noticed(server, cache, monkeypatch):
    _load(server + "/good.pth", monkeypatch)
    with open(cache / "inception5h.pth", "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02")
    with pytest.raises(WeightsError, match="changed since it was downloaded"):
        _load(server + "/good.pth", monkeypatch)


@pytest.mark.parametrize("path, message", [("/truncated.pth", "truncated|interrupted"),
                                           ("/garbage.pth", "not a readable weight file"),
                                           ("/missing.pth", "HTTP 404")])
def test_bad_download_leaves_nothing_and_retry_works(server, cache, monkeypatch, path, message):
    with pytest.raises(WeightsError, match=message) as err:
        _load(server + path, monkeypatch)
    assert server + path in str(err.value)
    assert "efficientnet_lite0 works offline" in str(err.value)
    assert not cache.exists() or list(cache.iterdir()) == []
    _load(server + "/good.pth", monkeypatch)
    assert (cache / "inception5h.pth").exists()


def test_wrong_shapes_rejected(tmp_path, inception_shapes):
    import torch

    from tests.conftest import random_state_dict

    sd = random_state_dict(inception_shapes)
    sd["mixed3b_5x5_pre_relu_conv.weight"] = sd["mixed3b_5x5_pre_relu_conv.weight"][:, :, :3, :3]
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match="mixed3b_5x5_pre_relu_conv.weight has shape"):
        ns.load_model("inceptionv1", weights=tmp_path / "bad.pth")


def test_offline_error_says_what_to_do(cache, monkeypatch):
    with pytest.raises(WeightsError, match=r"put inception5h.pth at .*cache"):
        _load("http://127.0.0.1:9/inception5h.pth", monkeypatch)
