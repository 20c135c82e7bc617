"""The shape of an invocation, checked before any handler trusts it (no AWS import: the
receipts function pays nothing for it at cold start)."""

from __future__ import annotations

from typing import Any


def is_record_batch(event: Any, id_field: str) -> bool:
    """Whether `event` is a batch of records each of which names itself by `id_field` (SQS's
    messageId, a stream's eventID): only those can be reported failed one by one. Anything else
    (`{"Records": [{}]}`, a list) is not an event of ours, answered as such, never raised on."""
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, dict) and isinstance(r.get(id_field), str) and r[id_field] for r in records)
    )
