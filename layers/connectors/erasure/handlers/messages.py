"""A vendor queue's batch read into what each record asks: a deletion request, a verification
check, or why neither. A message the relay sent names its identifiers (erasure.sealing): their
values are read from the ledger, one BatchGetItem for the batch; once its request is final they
are gone, and the message is `Over`: acknowledged, nothing sent."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from erasure.handlers.sqs import request_defaults
from erasure.ledger.identities import IdentityBook
from erasure.observability import logger
from erasure.request import DeletionRequest, InvalidRequest, json_document, parse
from erasure.sealing import UNSEALED, Sealed, Sealer, sealed_or_none
from erasure.verification import CHECK_FIELD, Check, read_check


@dataclass(frozen=True)
class Over:
    """A message of a request that is final (or expired): its identifiers are forgotten."""

    request_id: str


@dataclass(frozen=True)
class Unreadable:
    """A message whose identifiers are not readable while its request is open: retried."""

    request_id: str


Message = DeletionRequest | Check | InvalidRequest | Over | Unreadable


class MessageReader:
    def __init__(
        self,
        known_vendors: frozenset[str],
        identities: IdentityBook | None,
        over: Callable[[set[str]], set[str]] | None,
        sealer: Sealer = UNSEALED,
    ):
        self.known_vendors = known_vendors
        self.identities = identities
        self.over = over  # of these request_ids, those final or expired
        self.sealer = sealer  # told what the batch was read from: it need not keep that again

    def read(self, records: Mapping[str, SQSRecord]) -> dict[str, Message]:
        bodies: dict[str, Any] = {}
        sealed: dict[str, Sealed] = {}
        for key, record in records.items():
            try:
                bodies[key] = json_document(record.get("body"))
                named = sealed_or_none(bodies[key])
            except InvalidRequest as invalid:
                bodies[key] = invalid
                continue
            if named:
                sealed[key] = named
        over = self._open(sealed, bodies)
        read: dict[str, Message] = {}
        for key, body in bodies.items():
            if isinstance(body, Sealed):
                read[key] = (Over if body.request_id in over else Unreadable)(body.request_id)
            elif isinstance(body, InvalidRequest):
                read[key] = body
            else:
                read[key] = self._parsed(body, records[key])
        return read

    def _open(self, sealed: Mapping[str, Sealed], bodies: dict[str, Any]) -> set[str]:
        """Put each sealed message's opened body in `bodies`; of those that stay sealed, the
        request_ids that are over. The ledger unreachable: all stay sealed, none over (retried)."""
        wanted = {pair for s in sealed.values() for pair in s.wanted}
        self.sealer.read_from = frozenset()
        try:
            found = self.identities.read(wanted) if self.identities and wanted else {}
            self.sealer.read_from = frozenset(found)
            for key, named in sealed.items():
                bodies[key] = named.opened(found) or named
            missing = {b.request_id for b in bodies.values() if isinstance(b, Sealed)}
            return self.over(missing) if missing and self.over else set()
        except Exception:
            request_ids = sorted({s.request_id for s in sealed.values()})
            logger.exception("identifiers not read", extra={"request_ids": request_ids})
            bodies.update(sealed)
            return set()

    def _parsed(self, body: Any, record: SQSRecord) -> DeletionRequest | Check | InvalidRequest:
        """A deletion request, or (with CHECK_FIELD) a verification check; InvalidRequest if neither."""
        try:
            if isinstance(body, dict) and CHECK_FIELD in body:
                return read_check(body, **request_defaults(record), known_vendors=self.known_vendors)
            return parse(body, **request_defaults(record), known_vendors=self.known_vendors, steps=True)
        except InvalidRequest as invalid:
            return invalid
