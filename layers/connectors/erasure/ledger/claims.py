"""A request_id names one request, whichever entry point used it first: intake records it
(REQUEST), a vendor route or a message sent straight to a vendor queue claims it (CLAIM), each
atomically against the other. Vendor functions admit a batch here before sending anything."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from erasure.ledger.requests import content_fingerprint
from erasure.ledger.table import CLAIM_ITEM, HEADS, REQUEST_ITEM, KeyedBook, encode
from erasure.request import DeletionRequest, utc_timestamp


@dataclass(frozen=True)
class Head:
    """A request's first item (REQUEST or CLAIM), as a vendor function reads it: what the
    request_id asks for and when all its items expire."""

    content: str | None  # None: written before contents were kept; taken as the same request
    expires_at: int
    cancelled_at: str | None = None  # the operator cancelled it (DELETE /v1/deletions/{id})
    final: bool = False  # published final: every vendor answered, every check made
    forgotten: bool = False  # its identifiers are forgotten: a message naming them is over


@dataclass(frozen=True)
class Admission:
    """What the ledger says of a batch of requests before they are sent: per request, whether its
    id names a different request (refused); each request's expiry; and the ids already claimed
    before this batch (an earlier call may have sent them)."""

    conflicting: tuple[bool, ...]
    expiries: Mapping[str, int]
    seen_before: frozenset[str]
    cancelled: Mapping[str, str] = field(default_factory=dict)  # request_id -> when
    final: frozenset[str] = frozenset()  # published final: a message for one of these does nothing


class Claims(KeyedBook):
    def admit(self, requests: list[DeletionRequest]) -> Admission:
        """Before a vendor function sends anything: each request_id must name this request (the
        one intake recorded, or the one a vendor route or direct message claimed first); an id
        nobody used yet is claimed now, atomically against intake's own record."""
        contents = [content_fingerprint(self.hasher, r) for r in requests]
        ids = {r.request_id for r in requests}
        heads = self._heads(ids)
        to_claim: dict[str, str] = {}
        for request, content in zip(requests, contents, strict=True):
            if not heads.get(request.request_id):  # the first asking wins, as below
                to_claim.setdefault(request.request_id, content)
        seen_before = frozenset(i for i in ids if any(kind == CLAIM_ITEM for kind, _ in heads.get(i, ())))
        if to_claim:
            expiry = self.table.expiry()
            claims = [self._claim(request_id, content, expiry) for request_id, content in to_claim.items()]
            made = self.table.write_all(claims)
            raced = {i for i, ok in zip(to_claim, made, strict=True) if not ok}
            heads.update(self._heads(raced) if raced else {})  # claimed meanwhile: by whom, for what
            for request_id, content in to_claim.items():
                if request_id not in raced:
                    heads[request_id] = [(CLAIM_ITEM, Head(content, expiry))]
        conflicting: list[bool] = []
        first_content: dict[str, str] = {}
        for request, content in zip(requests, contents, strict=True):
            stated = first_content.setdefault(request.request_id, content)
            found = [head for _, head in heads.get(request.request_id, ())]
            conflicting.append(stated != content or any(h.content not in (None, content) for h in found))
        expiries = {i: min(h.expires_at for _, h in heads[i]) for i in ids if heads.get(i)}
        cancelled = {i: h.cancelled_at for i in ids for _, h in heads.get(i, ()) if h.cancelled_at}
        final = frozenset(i for i in ids for _, h in heads.get(i, ()) if h.final)
        return Admission(tuple(conflicting), expiries, seen_before, cancelled, final)

    def cancelled(self, request_ids: set[str]) -> dict[str, str]:
        """When each of these requests was cancelled, for those that were."""
        heads = self._heads(request_ids)
        return {i: h.cancelled_at for i, found in heads.items() for _, h in found if h.cancelled_at}

    def over(self, request_ids: set[str]) -> set[str]:
        """Of these requests, those published final or whose identifiers were forgotten (final
        without intake's record), or whose items are gone (expired)."""
        heads = self._heads(request_ids)
        return {
            i for i in request_ids if not heads.get(i) or any(h.final or h.forgotten for _, h in heads[i])
        }

    def _heads(self, request_ids: set[str]) -> dict[str, list[tuple[str, Head]]]:
        """The live first items (REQUEST, CLAIM) of these requests; a rejected REQUEST names none."""
        keys = [{"request_id": i, "item": kind} for i in sorted(request_ids) for kind in HEADS]
        now = int(time.time())
        heads: dict[str, list[tuple[str, Head]]] = {}
        fields = (
            "request_id",
            "item",
            "content",
            "expires_at",
            "status",
            "cancelled_at",
            "state_final",
            "forgotten_at",
        )
        for item in self.table.get_all(keys, fields):
            if int(item.get("expires_at", now)) >= now and item.get("status") != "rejected":
                head = Head(
                    item.get("content"),
                    int(item.get("expires_at", now)),
                    item.get("cancelled_at"),
                    bool(item.get("state_final")),
                    bool(item.get("forgotten_at")),
                )
                heads.setdefault(item["request_id"], []).append((item["item"], head))
        return heads

    def _claim(self, request_id: str, content: str, expiry: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """A CLAIM of the id for `content`, made only if intake has not recorded it otherwise."""
        now = int(time.time())
        claim = {
            "request_id": request_id,
            "item": CLAIM_ITEM,
            "content": content,
            "created_at": utc_timestamp(),
            "expires_at": expiry,
        }
        return (
            {
                "Put": {
                    "TableName": self.table.name,
                    "Item": encode(claim),
                    "ConditionExpression": "attribute_not_exists(request_id) OR expires_at < :now",
                    "ExpressionAttributeValues": encode({":now": now}),
                }
            },
            {
                "ConditionCheck": {
                    "TableName": self.table.name,
                    "Key": encode({"request_id": request_id, "item": REQUEST_ITEM}),
                    "ConditionExpression": "attribute_not_exists(request_id) OR attribute_not_exists(content)"
                    " OR content = :content OR #status = :rejected OR expires_at < :now",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": encode(
                        {":content": content, ":rejected": "rejected", ":now": now}
                    ),
                }
            },
        )
