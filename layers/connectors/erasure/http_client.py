"""The one HTTP client every connector uses: pooled, explicit timeouts, no hidden retries.

Retries belong to SQS (redelivery, dead-letter queue), never to a sleeping worker.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import urllib3

from erasure.errors import TransportFailure


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    duration_ms: float = field(default=0.0, compare=False)

    def json(self) -> Any:
        """The decoded body, or None when it is empty or not JSON (a malformed answer)."""
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, ValueError):
            return None


def json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class HttpClient:
    def __init__(self, connect_timeout: float = 3.05, read_timeout: float = 10.0, pool_size: int = 10):
        self._pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=pool_size,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            retries=False,
        )

    def send(self, request: HttpRequest) -> HttpAnswer:
        started = time.perf_counter()
        try:
            response = self._pool.request(
                request.method,
                request.url,
                body=request.body,
                headers=request.headers,
                redirect=False,
                retries=False,
            )
        except urllib3.exceptions.HTTPError as error:
            # The class name only: urllib3's messages can carry the URL, never needed here.
            raise TransportFailure(type(error).__name__, _elapsed_ms(started)) from None
        return HttpAnswer(
            status=response.status,
            headers=dict(response.headers),
            body=response.data or b"",
            duration_ms=_elapsed_ms(started),
        )


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
