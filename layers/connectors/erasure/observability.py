"""Logger, metrics and the keyed identifier hash: the only form in which identifiers are logged."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager

from aws_lambda_powertools import Logger, Metrics

from erasure.request import Identifier

# Service name and metrics namespace come from POWERTOOLS_SERVICE_NAME and
# POWERTOOLS_METRICS_NAMESPACE (set in template.yaml), so tests and functions share one setup.
logger = Logger()
metrics = Metrics()


# The key of the caller's request_id on every log line about one request, the same in the intake,
# vendor and status functions, so one query finds a request's whole path. Lines about many
# requests at once (a vendor call, a batch's ledger write) carry `request_ids` instead.
CORRELATION_ID = "correlation_id"  # Powertools' own key (Logger.set_correlation_id)


@contextmanager
def correlated(request_id: str) -> Iterator[None]:
    """Every log line within carries CORRELATION_ID; a single line can name it in `extra`."""
    logger.set_correlation_id(request_id)
    try:
        yield
    finally:
        logger.set_correlation_id(None)  # a None key is left out of the line


class IdentifierHasher:
    """A stable keyed hash (HMAC-SHA256) of an identifier, qualified by its type.

    Without the key nobody can confirm a guessed email or phone against a log line.
    """

    def __init__(self, key: bytes):
        if len(key) < 32:
            raise ValueError("the identifier hash key must be at least 32 bytes")
        self._key = key

    def __call__(self, identifier: Identifier) -> str:
        return self.digest(f"{identifier.label}:{identifier.value}")

    def digest(self, text: str | bytes) -> str:
        data = text.encode() if isinstance(text, str) else text
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()[:32]
