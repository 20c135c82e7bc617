"""The relay's own queue messages carry no identifier: each names its request's identifiers by
their keyed hash (`identity_ref`, `learned_ref`), and the values are kept in the ledger
(erasure.ledger.identities) before the message is sent. Once the request is final the kept values
are deleted, and every message the relay sent, in a queue or a dead-letter queue, names nothing
anyone can read. Without a ledger (a function used on its own) messages carry the values.

A message a caller sends (to the intake queue, or straight to a vendor queue) carries them as
the caller wrote it: what AWS keeps of those is listed in the README's Privacy section."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from erasure.errors import FieldError, InvalidRequest
from erasure.identifiers import Identifier
from erasure.ledger.identities import IdentityBook
from erasure.request import MAX_LEARNED, DeletionRequest, identity_of, is_request_id

IDENTITY_REF, LEARNED_REF = "identity_ref", "learned_ref"
ActsOn = Callable[[DeletionRequest, Identifier], bool]
MAX_REFS = 64  # far more than one request's identifiers (21) or one step's (MAX_LEARNED)
_ID_HASH = re.compile(r"^[0-9a-f]{32}$")


class Sealer:
    """Turns the relay's messages into what its queues carry: identifiers kept, then named."""

    def __init__(self, book: IdentityBook | None, acts_on: ActsOn | None = None):
        self.book = book
        self.acts_on = acts_on  # whether the keeper will write an outcome for an identifier
        # (request_id, id_hash) the batch at hand was read from: kept already, not written again.
        self.read_from: frozenset[tuple[str, str]] = frozenset()

    def keep(self, requests: Sequence[DeletionRequest]) -> None:
        """Keep the identifiers (given and learned) of these requests readable by their hash."""
        if self.book is not None:
            hasher = self.book.hasher
            self.book.keep(
                (r.request_id, i, bool(self.acts_on and self.acts_on(r, i)))
                for r in requests
                for i in (*r.identifiers, *r.learned)
                if (r.request_id, hasher(i)) not in self.read_from
            )

    def seal(
        self, messages: Sequence[tuple[DeletionRequest, dict[str, Any]]], kept: bool = False
    ) -> list[str]:
        """The JSON text of each (request, message in its plain form); its identifiers are kept
        first, unless the caller did (`kept`)."""
        if self.book is None:
            return [_text(message) for _, message in messages]
        if not kept:
            self.keep([request for request, _ in messages])
        hasher = self.book.hasher
        sealed = []
        for request, message in messages:
            named = {k: v for k, v in message.items() if k not in ("identity", "learned")}
            named[IDENTITY_REF] = [hasher(i) for i in request.identifiers]
            if "learned" in message:
                named[LEARNED_REF] = [hasher(i) for i in request.learned]
            sealed.append(_text(named))
        return sealed


def vendor_message(request: DeletionRequest) -> dict[str, Any]:
    """What a vendor queue receives (before a Sealer names its identifiers): the request
    with its id and time fixed; `vendors` only when enrichment may carry what one vendor learns
    to the others (and must keep to those)."""
    message = request.to_message()
    if not request.enrich:
        message.pop("vendors", None)
    return message


UNSEALED = Sealer(None)  # where there is no ledger to keep identifiers in


def _text(message: Mapping[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)  # as UTF-8: \uXXXX would triple its size


@dataclass(frozen=True)
class Sealed:
    """A message that names its identifiers: its request, and the hashes to read."""

    request_id: str
    body: Mapping[str, Any]
    given: tuple[str, ...]
    learned: tuple[str, ...] | None  # None: not a step

    @property
    def wanted(self) -> set[tuple[str, str]]:
        return {(self.request_id, h) for h in (*self.given, *(self.learned or ()))}

    def opened(self, found: Mapping[tuple[str, str], Identifier]) -> dict[str, Any] | None:
        """The message with its identifiers' values; None when any of them is no longer kept."""
        if not self.wanted <= found.keys():
            return None
        body = {k: v for k, v in self.body.items() if k not in (IDENTITY_REF, LEARNED_REF)}
        body["identity"] = identity_of(tuple(found[(self.request_id, h)] for h in self.given))
        if self.learned is not None:
            body["learned"] = [identity_of((found[(self.request_id, h)],)) for h in self.learned]
        return body


def sealed_or_none(body: Any) -> Sealed | None:
    """The message as Sealed when it names its identifiers; None when it carries them (a
    caller's); InvalidRequest naming the field when its names are not hashes."""
    if not isinstance(body, dict) or (IDENTITY_REF not in body and LEARNED_REF not in body):
        return None
    errors = []
    if "identity" in body or "learned" in body:
        errors.append(FieldError(IDENTITY_REF, "give identity or identity_ref, not both"))
    given = _hashes(body, IDENTITY_REF, MAX_REFS, errors)
    learned = _hashes(body, LEARNED_REF, MAX_LEARNED, errors) if LEARNED_REF in body else None
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or not is_request_id(request_id):
        errors.append(FieldError("request_id", "a message naming its identifiers needs its request_id"))
    if errors:
        raise InvalidRequest(errors)
    assert isinstance(request_id, str)
    return Sealed(request_id, body, given, learned)


def _hashes(body: Mapping[str, Any], field: str, most: int, errors: list[FieldError]) -> tuple[str, ...]:
    value = body.get(field)
    if (
        not isinstance(value, list)
        or not 0 < len(value) <= most
        or not all(isinstance(h, str) and _ID_HASH.fullmatch(h) for h in value)
    ):
        errors.append(FieldError(field, f"must be a list of 1 to {most} identifier hashes"))
        return ()
    return tuple(value)
