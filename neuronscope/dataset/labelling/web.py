"""The labelling page: a local HTTP server (standard library only, no external assets).

Every address lives under a per-session secret, `/s/TOKEN/`, printed once when the server
starts (`server.url`); the page uses relative addresses, so it carries the secret itself.

    GET  /s/TOKEN/               the page
    GET  /s/TOKEN/api/item       {"index": next item or null, "answered", "total", "categories", "neuron"}
    GET  /s/TOKEN/crop/N.png     item N's receptive-field crop
    GET  /s/TOKEN/icon.png       the page's icon (a plain grey square), so the browser asks for no /favicon.ico
    POST /s/TOKEN/api/answer     {"index": N, "label": "curve"} -> the next /api/item
    POST /s/TOKEN/api/undo       take the latest answer back -> the next /api/item

Other web sites cannot use it: a request needs the secret, a Host header naming this server
(no DNS rebinding), no foreign Origin or cross-site fetch, and a POST needs an
`application/json` body (no "simple" cross-origin form or text/plain post) of at most
MAX_BODY bytes and MAX_DEPTH levels. Each connection is served by its own thread and closed
after IDLE_TIMEOUT seconds without data, so an idle client cannot block the page; answers
are still saved one at a time, in order. Nothing sent to the page reveals an item's
activation, image or stratum.
"""

from __future__ import annotations

import functools
import hmac
import io
import json
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources

from PIL import Image

from neuronscope.dataset.crops import to_uint8
from neuronscope.errors import NeuronscopeError

MAX_BODY = 4096  # bytes of a POST body
MAX_DEPTH = 4  # nesting of a POST's JSON
IDLE_TIMEOUT = 10.0  # seconds a connection may wait for data
_PATH = re.compile(r"^/s/([A-Za-z0-9_-]+)(/.*)$")
_CROP = re.compile(r"^/crop/(\d+)\.png$")
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; connect-src 'self'; "
                               "script-src 'unsafe-inline'; style-src 'unsafe-inline'; frame-ancestors 'none'",
}


class LabelServer(ThreadingHTTPServer):
    """The page's server; `url` (with the session's secret) is the only way in."""

    daemon_threads = True

    def __init__(self, address, handler, session, token: str):
        super().__init__(address, handler)
        self.session, self.token, self.lock = session, token, threading.Lock()
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}/s/{token}/"
        names = {shown, *_LOOPBACK} if host in ("127.0.0.1", "::1") else {shown}
        self.hosts = {f"{name}:{port}" for name in names}
        self.origins = {f"http://{h}" for h in self.hosts}


def make_server(session, host: str = "127.0.0.1", port: int = 8765, token: str | None = None) -> LabelServer:
    """A server for `session` on this machine (`host` a loopback address; port 0: any free port);
    open `server.url`, which holds a new secret (or `token`), and call `serve_forever()` on it."""
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise NeuronscopeError(f"the labelling page listens only on this machine (127.0.0.1, ::1 or localhost), not "
                               f"{host}; from elsewhere, forward the port (ssh -L)")
    handler = type("Handler", (_Handler,), {"page": resources.files(__package__).joinpath("page.html").read_bytes()})
    token = token or secrets.token_urlsafe(24)
    if not _PATH.match(f"/s/{token}/"):
        raise NeuronscopeError("the token may hold only letters, digits, - and _")
    try:
        return LabelServer((host, port), handler, session, token)
    except OSError as exc:
        raise NeuronscopeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


class _Refused(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


class _Handler(BaseHTTPRequestHandler):
    page = b""
    timeout = IDLE_TIMEOUT  # socket timeout: an idle connection is closed, not waited for
    server: LabelServer

    def do_GET(self):  # noqa: N802 - the http.server interface
        try:
            path = self._checked_path()
            session = self.server.session
            if path == "/":
                return self._send(200, self.page, "text/html; charset=utf-8")
            if path == "/icon.png":
                return self._send(200, _icon(), "image/png")
            if path == "/api/item":
                with self.server.lock:
                    return self._json(200, self._state())
            if match := _CROP.match(path):
                index = int(match[1])
                if index >= len(session):
                    raise _Refused(404, f"no item {index}")
                try:
                    crop = session.crop(index)
                except NeuronscopeError as exc:  # its image went missing or changed
                    raise _Refused(409, str(exc)) from None
                buffer = io.BytesIO()
                Image.fromarray(to_uint8(crop)).save(buffer, format="PNG")
                return self._send(200, buffer.getvalue(), "image/png")
            raise _Refused(404, f"no such page: {path}")
        except _Refused as exc:
            self._json(exc.code, {"error": str(exc)})

    def do_POST(self):  # noqa: N802
        try:
            path = self._checked_path()
            body = self._json_body()
            with self.server.lock:  # answers are appended one at a time, in order
                if path == "/api/answer":
                    self.server.session.answer(body.get("index"), body.get("label"))
                elif path == "/api/undo":
                    self.server.session.undo()
                else:
                    raise _Refused(404, f"no such action: {path}")
                state = self._state()
        except _Refused as exc:
            return self._json(exc.code, {"error": str(exc)})
        except NeuronscopeError as exc:
            return self._json(400, {"error": str(exc)})
        self._json(200, state)

    def _checked_path(self) -> str:
        """The path after /s/TOKEN, once the Host, Origin, fetch site and token are this server's."""
        if self.headers.get("Host", "").lower() not in self.server.hosts:
            raise _Refused(403, "this page answers only to its own address")
        origin = self.headers.get("Origin")
        if origin is not None and origin.lower() not in self.server.origins:
            raise _Refused(403, "requests from other web sites are refused")
        if self.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            raise _Refused(403, "requests from other web sites are refused")
        match = _PATH.match(self.path.split("?")[0])
        if not match or not hmac.compare_digest(match[1].encode(), self.server.token.encode()):
            raise _Refused(404, "no such page (open the address printed when the server started)")
        return match[2]

    def _json_body(self) -> dict:
        kind = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise _Refused(415, "the body must be application/json")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise _Refused(411, "a Content-Length is required") from None
        if not 0 <= length <= MAX_BODY:
            raise _Refused(413, f"the body may hold at most {MAX_BODY} bytes")
        raw = self.rfile.read(length) if length else b"{}"
        try:
            text = raw.decode("utf-8")
            if _depth(text) > MAX_DEPTH:
                raise _Refused(400, f"the JSON may nest at most {MAX_DEPTH} levels")
            body = json.loads(text)
        except (UnicodeDecodeError, ValueError):
            raise _Refused(400, "the body is not JSON") from None
        if not isinstance(body, dict):
            raise _Refused(400, "the body must be a JSON object")
        return body

    def _state(self) -> dict:
        s = self.server.session
        return {"index": s.next_index(), "answered": s.answered, "total": len(s), "categories": s.categories,
                "neuron": f"{s.stats.layer}:{s.unit}"}

    def _json(self, code: int, data: dict) -> None:
        self._send(code, json.dumps(data).encode(), "application/json")

    def _send(self, code: int, body: bytes, kind: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in _HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep the terminal for the command's own messages
        pass


@functools.cache
def _icon() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (119, 119, 119)).save(buffer, format="PNG")
    return buffer.getvalue()


def _depth(text: str) -> int:
    """Deepest nesting of [ and { in JSON text (outside strings), without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
