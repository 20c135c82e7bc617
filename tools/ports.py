"""A local server's port already taken, said in one line with the option that picks another."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager


class PortInUse(Exception):
    def __init__(self, port: int, what: str) -> None:
        super().__init__(f"port {port} ({what}) is already in use")
        self.port = port


@contextmanager
def binding(port: int, what: str) -> Iterator[None]:
    """Within: binding `what` to `port`; a taken port becomes PortInUse, other errors stay."""
    try:
        yield
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        raise PortInUse(port, what) from None
