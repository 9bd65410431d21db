"""Weight downloads against a misbehaving server on 127.0.0.1 (issue 13, downloads): an overall
deadline, a size cap, no `.part` left behind, a pinned/given SHA-256 checked and an unverified
first download said plainly; bad caches, records and URLs are one-line errors."""

from __future__ import annotations

import hashlib
import http.server
import os
import pickle
import threading
import time
from pathlib import Path

import pytest

import neuronscope as ns
from neuronscope.cli import main
from neuronscope.errors import WeightsError
from neuronscope.models import weights as wf

SMALL = {"w": (10,)}  # a state dict of 10 floats: at most max_download_bytes(SMALL) bytes


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}

    def do_GET(self):  # noqa: N802
        route = self.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        route(self)

    def log_message(self, *args):
        pass


def _drip(handler):  # 16 bytes every 0.1 s of an announced 10 kB: never finishes in time
    handler.send_response(200)
    handler.send_header("Content-Length", "10000")
    handler.end_headers()
    try:
        for _ in range(100):
            handler.wfile.write(b"x" * 16)
            handler.wfile.flush()
            time.sleep(0.1)
    except OSError:
        pass


def _huge_announced(handler):
    handler.send_response(200)
    handler.send_header("Content-Length", str(10**10))
    handler.end_headers()


def _endless(handler):  # no Content-Length: close-delimited, far more than any weights
    handler.send_response(200)
    handler.end_headers()
    try:
        for _ in range(64):
            handler.wfile.write(b"\0" * (1 << 16))
    except OSError:
        pass


def _serve(data):
    def route(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
    return route


@pytest.fixture()
def server(inception_file):
    good = Path(inception_file).read_bytes()
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x01  # one bit
    _Handler.routes = {"/drip": _drip, "/huge": _huge_announced, "/endless": _endless, "/good.pth": _serve(good),
                       "/flipped.pth": _serve(bytes(flipped))}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", hashlib.sha256(good).hexdigest()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURONSCOPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NEURONSCOPE_INCEPTIONV1_SHA256", raising=False)
    return tmp_path / "cache"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_slow_server_meets_the_overall_deadline(server, tmp_path):
    base, _ = server
    started = time.monotonic()
    with pytest.raises(WeightsError, match=r"not finished after 0.5 s"):
        wf.download(base + "/drip", tmp_path / "w.pth", {"w": (5000,)}, progress=False, deadline=0.5)
    assert time.monotonic() - started < 5  # each read returns what arrived; the deadline is checked after each
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("path, message", [("/huge", r"is 10000000000 bytes"), ("/endless", r"more than \d+ bytes")])
def test_more_bytes_than_the_weights_need_are_refused(server, tmp_path, path, message):
    base, _ = server
    with pytest.raises(WeightsError, match=message):
        wf.download(base + path, tmp_path / "w.pth", SMALL, progress=False)
    assert _leftovers(tmp_path) == []
    assert wf.max_download_bytes(SMALL) < 2 * (1 << 20)  # the stream was cut near the cap, not at 4 MiB


def test_a_flipped_bit_is_refused_when_the_sha256_is_known(server, cache, monkeypatch, capsys):
    base, good_sha = server
    monkeypatch.setenv("NEURONSCOPE_INCEPTIONV1_URL", base + "/flipped.pth")
    monkeypatch.setenv("NEURONSCOPE_INCEPTIONV1_SHA256", good_sha)
    with pytest.raises(WeightsError, match=f"not the expected {good_sha}"):
        ns.load_model("inceptionv1", progress=False)
    assert _leftovers(cache) == []
    monkeypatch.setenv("NEURONSCOPE_INCEPTIONV1_URL", base + "/good.pth")
    ns.load_model("inceptionv1", progress=False)
    assert "unverified" not in capsys.readouterr().err
    assert '"verified": true' in (cache / "inception5h.pth.sha256.json").read_text()
    monkeypatch.setenv("NEURONSCOPE_INCEPTIONV1_SHA256", "0" * 64)  # the cached file is checked against it too
    with pytest.raises(WeightsError, match="not the expected 0000"):
        ns.load_model("inceptionv1", progress=False)


def test_an_unverified_first_download_says_so(server, cache, monkeypatch, capsys):
    base, good_sha = server
    monkeypatch.setenv("NEURONSCOPE_INCEPTIONV1_URL", base + "/good.pth")
    ns.load_model("inceptionv1", progress=False)
    err = capsys.readouterr().err
    assert "warning: inception5h.pth" in err and "is unverified" in err and good_sha in err
    assert '"verified": false' in (cache / "inception5h.pth.sha256.json").read_text()
    monkeypatch.setenv("NEURONSCOPE_INCEPTIONV1_SHA256", "not hex")
    with pytest.raises(WeightsError, match="64 hexadecimal digits"):
        ns.load_model("inceptionv1", progress=False)


def test_stale_part_files_of_killed_downloads_are_removed(server, tmp_path):
    base, _ = server
    stale, live = tmp_path / "w.pth.abc.part", tmp_path / "w.pth.def.part"
    stale.write_bytes(b"partial")
    live.write_bytes(b"being written")
    old = time.time() - 10_000
    os.utime(stale, (old, old))
    with pytest.raises(WeightsError):
        wf.download(base + "/huge", tmp_path / "w.pth", SMALL, progress=False, deadline=60)
    assert not stale.exists() and live.exists()


@pytest.mark.parametrize("url", ["ftp://example.org/w.pth", "file:///etc/passwd", "gopher://x/", "no-scheme"])
def test_other_url_schemes_are_refused(tmp_path, url):
    with pytest.raises(WeightsError, match="only http and https"):
        wf.download(url, tmp_path / "w.pth", SMALL, progress=False)


def test_bad_caches_records_and_weight_files_are_one_line(tmp_path, monkeypatch, capsys, inception_file):
    monkeypatch.setenv("NEURONSCOPE_LOG_DIR", str(tmp_path))
    monkeypatch.delenv("NEURONSCOPE_INCEPTIONV1_SHA256", raising=False)
    (tmp_path / "cache-file").write_text("a file, not a folder")
    monkeypatch.setenv("NEURONSCOPE_CACHE", str(tmp_path / "cache-file"))
    monkeypatch.setenv("NEURONSCOPE_INCEPTIONV1_URL", "http://127.0.0.1:9/inception5h.pth")
    cases = [(["info", "inceptionv1"], "is not a folder")]

    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "inception5h.pth").write_bytes(Path(inception_file).read_bytes())
    (cache / "inception5h.pth.sha256.json").write_text("{corrupt")
    cases.append((["info", "inceptionv1"], "sha256.json is unreadable"))

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (tmp_path / "evil.pth").write_bytes(pickle.dumps(Evil()))
    cases.append((["info", "inceptionv1", "--weights", str(tmp_path / "evil.pth")], "not a readable weight file"))
    cases.append((["info", "inceptionv1", "--weights", str(cache / "inception5h.pth.sha256.json")],
                  "not a readable weight file"))
    for i, (argv, message) in enumerate(cases):
        if i == 1:
            monkeypatch.setenv("NEURONSCOPE_CACHE", str(cache))
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
        assert "weights_only" not in err and "trusted" not in err and "unexpected" not in err, err
    assert not marker.exists()  # the pickle's code never ran
