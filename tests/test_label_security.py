"""The labelling page against other web sites, on a running server on 127.0.0.1 (issue 13, item 1):
writes need the session's secret, their own Host and Origin and a JSON body of bounded size and
depth; an idle connection neither blocks the page nor stays open."""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import threading
import time

import pytest
import torch

import neuronscope as ns
from neuronscope.dataset import LabelSession, compute_stats, make_server
from neuronscope.dataset.labelling import web
from tests.test_dataset import SIZE, Tiny, folder, one_thread  # noqa: F401 - fixtures


@pytest.fixture(scope="module")
def finished(folder, tmp_path_factory):  # noqa: F811
    torch.manual_seed(0)
    model = ns.wrap(Tiny(), layers={"conv1": "relu", "conv2": "relu"}, name="tiny")
    out = tmp_path_factory.mktemp("result")
    compute_stats(model, "conv2", folder, out, resize=SIZE, size=SIZE, batch_size=4, workers=0, progress=False,
                  per_stratum=2)
    return out


@pytest.fixture
def server(finished, tmp_path, monkeypatch):
    monkeypatch.setattr(web._Handler, "timeout", 1.0)  # IDLE_TIMEOUT, shortened for the test
    session = LabelSession(shutil.copytree(finished, tmp_path / "result"), 1, categories=["curve", "other"])
    srv = make_server(session, port=0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def request(srv, method, path, body=None, headers=None, token=True):
    """(status, body) of a request with exactly these headers (Host defaults to the server's own)."""
    host, port = srv.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    headers = {"Host": f"127.0.0.1:{port}", **(headers or {})}
    conn.putrequest(method, (f"/s/{srv.token}" if token else "") + path, skip_host=True, skip_accept_encoding=True)
    data = body.encode() if isinstance(body, str) else body
    if data is not None:
        headers.setdefault("Content-Length", str(len(data)))
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders(data)
    response = conn.getresponse()
    out = response.status, response.read()
    conn.close()
    return out


def saved(srv) -> int:
    return len(srv.session.path.read_text().splitlines()) if srv.session.path.exists() else 0


ANSWER = json.dumps({"index": 0, "label": "curve"})


def test_the_printed_address_works_same_origin(server):
    port = server.server_address[1]
    status, page = request(server, "GET", "/")
    assert status == 200 and b"api/answer" in page and b'"/api/' not in page  # relative: keeps the secret
    own = {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"}
    status, body = request(server, "POST", "/api/answer", ANSWER, own)
    assert status == 200 and json.loads(body)["answered"] == 1 and saved(server) == 2  # header + answer
    status, _ = request(server, "GET", "/crop/0.png", headers={"Host": f"localhost:{port}"})
    assert status == 200


@pytest.mark.parametrize("case, path_token, headers, body, code", [
    ("cross-origin text/plain (a form or no-cors fetch)", True,
     {"Origin": "http://attacker.example", "Content-Type": "text/plain"}, ANSWER, 403),
    ("cross-origin JSON", True, {"Origin": "http://attacker.example", "Content-Type": "application/json"}, ANSWER, 403),
    ("cross-site fetch", True, {"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"}, ANSWER, 403),
    ("foreign Host (DNS rebinding)", True, {"Host": "attacker.example", "Content-Type": "application/json"},
     ANSWER, 403),
    ("no secret", False, {"Content-Type": "application/json"}, ANSWER, 404),
    ("text/plain", True, {"Content-Type": "text/plain"}, ANSWER, 415),
    ("form", True, {"Content-Type": "application/x-www-form-urlencoded"}, "index=0&label=curve", 415),
    ("too large", True, {"Content-Type": "application/json"}, json.dumps({"index": 0, "label": "x" * 5000}), 413),
    ("too deep", True, {"Content-Type": "application/json"}, '{"index": 0, "label": "curve", "x": ' + "[" * 500
     + "]" * 500 + "}", 400),
    ("not an object", True, {"Content-Type": "application/json"}, "[1, 2]", 400),
    ("not JSON", True, {"Content-Type": "application/json"}, "{index: 0", 400),
])
def test_writes_from_elsewhere_are_refused_and_not_saved(server, case, path_token, headers, body, code):
    before = saved(server)
    status, _ = request(server, "POST", "/api/answer", body, headers, token=path_token)
    assert status == code, case
    assert saved(server) == before and server.session.answered == 0, case


def test_reads_need_the_secret_and_the_own_host(server):
    assert request(server, "GET", "/", headers={"Host": "attacker.example"})[0] == 403
    assert request(server, "GET", "/crop/0.png", headers={"Host": "attacker.example:80"})[0] == 403
    assert request(server, "GET", "/api/item", token=False)[0] == 404
    assert request(server, "GET", "/", token=False)[0] == 404
    status, _ = request(server, "GET", "/s/" + "x" * len(server.token) + "/api/item", token=False)
    assert status == 404


def test_an_idle_connection_neither_blocks_the_page_nor_stays_open(server):
    host, port = server.server_address[:2]
    idle = socket.create_connection((host, port), timeout=10)
    idle.sendall(b"POST /s/")  # a request that never finishes
    started = time.monotonic()
    assert request(server, "GET", "/api/item")[0] == 200
    assert time.monotonic() - started < 0.9  # served while the idle one waits (timeout 1 s)
    assert idle.recv(100) == b""  # then closed by the server
    assert time.monotonic() - started < 5
    idle.close()


def test_it_listens_only_on_this_machine(finished, tmp_path):
    from neuronscope.errors import NeuronscopeError

    session = LabelSession(shutil.copytree(finished, tmp_path / "result"), 1)
    with pytest.raises(NeuronscopeError, match="only on this machine"):
        make_server(session, host="0.0.0.0", port=0)
