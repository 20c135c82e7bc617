"""A raw stdlib HTTP server for what werkzeug (pytest-httpserver) cannot show.

Werkzeug drops request headers that contain underscores, such as an `access_token` header, and
cannot close a connection without answering. This server records requests as they arrive.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


class RecordingServer:
    def __init__(self, status: int = 200, body: object = None, reset: bool = False, delay: float = 0.0):
        self.requests: list[Recorded] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                owner.requests.append(
                    Recorded(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
                )
                time.sleep(delay)
                if reset:
                    self.close_connection = True
                    self.connection.close()
                    return
                payload = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_DELETE = do_GET = _any

            def log_message(self, *args):  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> RecordingServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
