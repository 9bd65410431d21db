"""The labelling page: a local HTTP server (standard library only, no external assets).

    GET  /               the page
    GET  /api/item       {"index": next item or null, "answered", "total", "categories", "neuron"}
    GET  /crop/N.png     item N's receptive-field crop
    POST /api/answer     {"index": N, "label": "curve"} -> the next /api/item
    POST /api/undo       take the latest answer back -> the next /api/item

Nothing sent to the page reveals an item's activation, image or stratum.
"""

from __future__ import annotations

import io
import json
import re
from http.server import BaseHTTPRequestHandler, HTTPServer
from importlib import resources

from PIL import Image

from neuronscope.dataset.crops import to_uint8
from neuronscope.errors import NeuronscopeError

_CROP = re.compile(r"^/crop/(\d+)\.png$")


def make_server(session, host: str = "127.0.0.1", port: int = 8765) -> HTTPServer:
    """A server for `session` (port 0: any free port; see `server.server_address`); call
    `serve_forever()` on it. One request at a time, so answers are appended in order."""
    handler = type("Handler", (_Handler,), {"session": session,
                                             "page": resources.files(__package__).joinpath("page.html").read_bytes()})
    try:
        return HTTPServer((host, port), handler)
    except OSError as exc:
        raise NeuronscopeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


class _Handler(BaseHTTPRequestHandler):
    session = None
    page = b""

    def do_GET(self):  # noqa: N802 - the http.server interface
        path = self.path.split("?")[0]
        if path == "/":
            self._send(200, self.page, "text/html; charset=utf-8")
        elif path == "/api/item":
            self._json(200, self._state())
        elif match := _CROP.match(path):
            index = int(match[1])
            if index >= len(self.session):
                return self._json(404, {"error": f"no item {index}"})
            buffer = io.BytesIO()
            Image.fromarray(to_uint8(self.session.crop(index))).save(buffer, format="PNG")
            self._send(200, buffer.getvalue(), "image/png")
        else:
            self._json(404, {"error": f"no such page: {path}"})

    def do_POST(self):  # noqa: N802
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            if self.path == "/api/answer":
                self.session.answer(body.get("index"), body.get("label"))
            elif self.path == "/api/undo":
                self.session.undo()
            else:
                return self._json(404, {"error": f"no such action: {self.path}"})
        except (ValueError, AttributeError, NeuronscopeError) as exc:
            return self._json(400, {"error": str(exc)})
        self._json(200, self._state())

    def _state(self) -> dict:
        s = self.session
        return {"index": s.next_index(), "answered": s.answered, "total": len(s), "categories": s.categories,
                "neuron": f"{s.stats.layer}:{s.unit}"}

    def _json(self, code: int, data: dict) -> None:
        self._send(code, json.dumps(data).encode(), "application/json")

    def _send(self, code: int, body: bytes, kind: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep the terminal for the command's own messages
        pass
