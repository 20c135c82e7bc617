"""Braze: POST /users/external_ids/remove — removes deprecated external ids, 50 a call.

An id is removed iff it is in `removed_ids`. `removal_errors` refer to an index of the request
array, in an undocumented shape (seen as strings and as arrays): read every plausible shape.
Rate headers (X-RateLimit-*) come on every answer, possibly lowercase; no Retry-After.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from erasure.http_client import HttpAnswer, HttpRequest, json_bytes
from erasure.outcomes import Outcome, Verdict, verdict_for_status
from erasure.request import Action, IdentifierType
from erasure.vendors.base import Connector, Target, error_text, mentions

# Documented REST hosts by dashboard instance. EU lives on .braze.eu, not .braze.com.
INSTANCE_HOSTS = {
    **{f"US-0{n}": f"rest.iad-0{n}.braze.com" for n in range(1, 9)},
    "US-10": "rest.us-10.braze.com",
    "EU-01": "rest.fra-01.braze.eu",
    "EU-02": "rest.fra-02.braze.eu",
    "AU-01": "rest.au-01.braze.com",
    "ID-01": "rest.id-01.braze.com",
    "JP-01": "rest.jp-01.braze.com",
    "KR-01": "rest.kr-01.braze.com",
}
_INDEX = re.compile(r"index\D{0,3}(\d+)", re.IGNORECASE)
_ABSENT = re.compile(r"not found|does not exist|doesn't exist|no user|unknown (external )?id", re.IGNORECASE)


class Braze(Connector):
    name = "braze"
    operation = "POST /users/external_ids/remove"
    max_batch = 50
    serves = {Action.REMOVE_IDENTIFIER: frozenset({IdentifierType.EXTERNAL_ID})}
    credential_fields = ("api_key",)
    url_variable, host_variable, hosts = "BRAZE_REST_ENDPOINT", "BRAZE_INSTANCE", INSTANCE_HOSTS
    requests_per_minute = 1000
    default_concurrency = 4

    def build(self, targets: list[Target], base: str, credentials: Mapping[str, str]) -> HttpRequest:
        return HttpRequest(
            "POST",
            f"{base}/users/external_ids/remove",
            {"Authorization": f"Bearer {credentials['api_key']}", "Content-Type": "application/json"},
            json_bytes({"external_ids": [t.identifier.value for t in targets]}),
        )

    def read(self, answer: HttpAnswer, targets: list[Target]) -> list[Verdict]:
        body = answer.json()
        if not 200 <= answer.status < 300:
            return [verdict_for_status(answer.status, error_text(body), answer.headers)] * len(targets)
        if not isinstance(body, dict) or not isinstance(body.get("removed_ids"), list):
            return [Verdict(Outcome.TRANSIENT, "malformed answer", answer.status)] * len(targets)
        removed = {str(i) for i in body["removed_ids"]}
        errors = _errors_by_index(body.get("removal_errors") or [], [t.identifier.value for t in targets])
        verdicts = []
        for index, target in enumerate(targets):
            if target.identifier.value in removed:
                verdicts.append(Verdict(Outcome.DELETED, "", answer.status))
            elif index in errors:
                absent = _ABSENT.search(errors[index])
                outcome = Outcome.ALREADY_ABSENT if absent else Outcome.REFUSED
                verdicts.append(Verdict(outcome, errors[index], answer.status))
            else:
                # Not removed and no error names it: never claim a deletion we cannot prove.
                verdicts.append(Verdict(Outcome.TRANSIENT, "removal not confirmed", answer.status))
        return verdicts


def _errors_by_index(removal_errors: list, ids: list[str]) -> dict[int, str]:
    """Map each removal error to the index of the request array it refers to."""
    found: dict[int, str] = {}
    for error in removal_errors:
        parts = error if isinstance(error, (list, tuple)) else [error]
        if isinstance(error, dict):
            parts = [error.get("index"), error.get("message") or error.get("error") or ""]
        index, texts = None, []
        for part in parts:
            if isinstance(part, int) and not isinstance(part, bool):
                index = part
            elif isinstance(part, str):
                if part in ids:
                    index = ids.index(part) if index is None else index
                    continue
                texts.append(part)
                match = _INDEX.search(part)
                if index is None and match:
                    index = int(match.group(1))
        if index is None:  # last resort: the error quotes one of the ids (the longest that fits)
            quoted = [i for i, v in enumerate(ids) if any(mentions(t, v) for t in texts)]
            index = max(quoted, key=lambda i: len(ids[i]), default=None)
        if index is not None and 0 <= index < len(ids):
            found.setdefault(index, "; ".join(texts) or "removal error")
    return found
