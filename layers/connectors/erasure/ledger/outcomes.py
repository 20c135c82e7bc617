"""The vendor functions' part of the ledger: per vendor and identifier, the latest outcome (written
once per attempt, never moved back from final), what verification checks found, and what an
earlier delivery already got."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from erasure.errors import OutcomeNotRecorded
from erasure.ledger.table import KeyedBook, encode, outcome_item
from erasure.observability import IdentifierHasher
from erasure.outcomes import (
    RETRYABLE,
    CheckFinding,
    IdentifierResult,
    Outcome,
    PriorOutcome,
    Verdict,
    Verification,
)
from erasure.request import Identifier, epoch_timestamp, utc_timestamp

# Named through placeholders: `item` is one of DynamoDB's reserved words.
_PRIOR_FIELDS = (
    "request_id",
    "item",
    "outcome",
    "reason",
    "last_http_status",
    "attempts",
    "verification",
    "verification_checks",
    "expires_at",
)


class OutcomeBook(KeyedBook):
    def record(self, results: list[tuple[IdentifierResult, str]], expiries: Mapping[str, int]) -> None:
        """Write (outcome, attempt id) pairs, 100 a call, each expiring with its request
        (`expiries`). Idempotent: the same attempt is counted once, and a final outcome is never
        replaced (a redelivered message cannot move it backwards). A final outcome refused while
        the stored one is not final raises OutcomeNotRecorded: it must not be lost."""
        made = self.table.write_all(
            [{"Update": self._outcome_update(result, attempt_id, expiries)} for result, attempt_id in results]
        )
        refused = [
            (result.request_id, result.identifier)
            for (result, _), ok in zip(results, made, strict=True)
            if not ok and result.verdict.outcome.is_final
        ]
        if refused:
            vendor = results[0][0].vendor
            stored = self.prior_outcomes(vendor, refused)
            if any(pair not in stored or not stored[pair].verdict.outcome.is_final for pair in refused):
                raise OutcomeNotRecorded(f"{len(refused)} final outcome(s) refused over ones not final")

    def _outcome_update(
        self, result: IdentifierResult, attempt_id: str, expiries: Mapping[str, int]
    ) -> dict[str, Any]:
        verdict = result.verdict
        now = utc_timestamp()
        attempted = result.attempted_at is not None
        id_hash = self.hasher(result.identifier)
        updates = [
            "vendor = :vendor",
            "identifier = :identifier",
            "id_hash = :id_hash",
            "outcome = :outcome",
            "reason = :reason",
            "last_http_status = :http_status",
            "retry_after = :retry_after",
            "updated_at = :now",
            "expires_at = :expires_at",
        ]
        values: dict[str, Any] = {
            ":vendor": result.vendor,
            ":identifier": result.identifier.label,
            ":id_hash": id_hash,
            ":outcome": str(verdict.outcome),
            ":reason": verdict.reason,
            ":http_status": verdict.http_status,
            ":retry_after": None if verdict.retry_after is None else str(verdict.retry_after),
            ":now": now,
            ":expires_at": expiries.get(result.request_id) or self.table.expiry(),
            ":attempt": {attempt_id},
            ":attempt_id": attempt_id,
            **_RETRYABLE_VALUES,
        }
        if attempted:
            updates += [
                "first_attempt_at = if_not_exists(first_attempt_at, :attempted_at)",
                "last_attempt_at = :attempted_at",
            ]
            values[":attempted_at"] = result.attempted_at
        if verdict.outcome.is_final:
            updates.append("completed_at = :now")
        for name, value in _facts(result, self.hasher).items():
            updates.append(f"{name} = :{name}")
            values[f":{name}"] = value
        expression = "SET " + ", ".join(updates) + " ADD attempt_ids :attempt"
        if attempted:
            expression += ", attempts :one"
            values[":one"] = 1
        return {
            "TableName": self.table.name,
            "Key": encode({"request_id": result.request_id, "item": outcome_item(result.vendor, id_hash)}),
            "UpdateExpression": expression,
            "ConditionExpression": _OUTCOME_CONDITION,
            "ExpressionAttributeValues": encode(values),
        }

    def record_checks(self, findings: list[CheckFinding]) -> None:
        """Write what checks found. Each check is written once: a redelivered one, or one after a
        later check, is left out."""
        writes = []
        for finding in findings:
            result, number, next_due_at = finding.result, finding.check, finding.next_due_at
            verdict = result.verdict
            values = {
                ":verification": str(verdict.outcome),
                ":reason": verdict.reason,
                ":now": utc_timestamp(),
                ":number": number,
                ":due_at": None if next_due_at is None else epoch_timestamp(next_due_at),
                ":evidence": None if verdict.evidence is None else verdict.evidence.as_dict(),
                ":pending": str(Verification.PENDING),
            }
            key = {
                "request_id": result.request_id,
                "item": outcome_item(result.vendor, self.hasher(result.identifier)),
            }
            writes.append(
                {
                    "Update": {
                        "TableName": self.table.name,
                        "Key": encode(key),
                        "UpdateExpression": (
                            "SET verification = :verification, verification_reason = :reason,"
                            " checked_at = :now, updated_at = :now, verification_checks = :number,"
                            " verification_due_at = :due_at, verification_evidence = :evidence"
                        ),
                        "ConditionExpression": "verification = :pending AND verification_checks < :number",
                        "ExpressionAttributeValues": encode(values),
                    }
                }
            )
        self.table.write_all(writes)

    def prior_outcomes(
        self, vendor: str, pairs: list[tuple[str, Identifier]]
    ) -> dict[tuple[str, Identifier], PriorOutcome]:
        """What this vendor's outcome items already say for (request_id, identifier) pairs: a
        redelivered request must not send what is final, and must know what was tried before.
        An expired item says nothing: its request is gone."""
        keys = {
            (request_id, outcome_item(vendor, self.hasher(identifier))): (request_id, identifier)
            for request_id, identifier in pairs
        }
        now = int(time.time())
        found: dict[tuple[str, Identifier], PriorOutcome] = {}
        items = self.table.get_all([{"request_id": r, "item": i} for r, i in keys], _PRIOR_FIELDS)
        for item in items:
            if item.get("outcome") and int(item.get("expires_at", now)) >= now:
                found[keys[(item["request_id"], item["item"])]] = PriorOutcome(
                    Verdict(
                        Outcome(item["outcome"]),
                        item.get("reason") or "",
                        None if item.get("last_http_status") is None else int(item["last_http_status"]),
                    ),
                    int(item.get("attempts", 0)),
                    Verification(item["verification"]) if item.get("verification") else None,
                    int(item.get("verification_checks", 0)),
                )
        return found


def _facts(result: IdentifierResult, hasher: IdentifierHasher) -> dict[str, Any]:
    """What an outcome item holds when the result has it: the call's evidence, the profile ids
    it was resolved to (or the identifier it was resolved from), its first verification state."""
    facts: dict[str, Any] = {}
    if result.verdict.evidence is not None:
        facts["evidence"] = result.verdict.evidence.as_dict()
    if result.resolved_to:
        facts["resolved_to"] = [{"identifier": i.label, "id_hash": hasher(i)} for i in result.resolved_to]
    if result.resolved_from is not None:
        facts["resolved_from"] = hasher(result.resolved_from)
    if result.verification is not None:
        facts["verification"] = str(result.verification)
        facts["verification_reason"] = result.verification_reason
        facts["verification_checks"] = 0
        due = result.verify_due_at
        facts["verification_due_at"] = None if due is None else epoch_timestamp(due)
    return facts


_RETRYABLE_VALUES = {f":retryable{n}": str(o) for n, o in enumerate(sorted(RETRYABLE))}
_OUTCOME_CONDITION = (
    f"(attribute_not_exists(outcome) OR outcome IN ({', '.join(_RETRYABLE_VALUES)}))"
    " AND NOT contains(attempt_ids, :attempt_id)"
)
