"""Insider: DELETE /api/user/v1/identity — deletes the value of one identifier, keeps the user.

One user per call; we send one identifier per call so every answer is about exactly one
identifier. X-PARTNER-NAME must be lowercase. Deleting a user's sole identifier is a 400;
throttling is a 429 with Retry-After, or on some hosts a 403 "Request limit exceeded".
"""

from __future__ import annotations

from collections.abc import Mapping

from erasure.http_client import HttpAnswer, HttpRequest, json_bytes
from erasure.outcomes import Outcome, Verdict, retry_after_seconds, verdict_for_status
from erasure.request import Action, IdentifierType
from erasure.vendors.base import Connector, Target, error_text


class Insider(Connector):
    name = "insider"
    operation = "DELETE /api/user/v1/identity"
    max_batch = 1
    serves = {
        Action.REMOVE_IDENTIFIER: frozenset(
            {IdentifierType.EMAIL, IdentifierType.PHONE_NUMBER, IdentifierType.UUID, IdentifierType.CUSTOM}
        )
    }
    credential_fields = ("partner_name", "request_token")
    url_variable, default_url = "INSIDER_API_URL", "https://unification.useinsider.com"
    max_body_bytes = 5 * 1024 * 1024
    requests_per_minute = 1000
    default_concurrency = 8

    def build(self, targets: list[Target], base: str, credentials: Mapping[str, str]) -> HttpRequest:
        (identifier,) = (t.identifier for t in targets)
        if identifier.type is IdentifierType.CUSTOM:
            identifiers = {"custom": {identifier.name: identifier.value}}
        else:
            identifiers = {str(identifier.type): identifier.value}
        return HttpRequest(
            "DELETE",
            f"{base}/api/user/v1/identity",
            {
                "X-PARTNER-NAME": credentials["partner_name"].lower(),
                "X-REQUEST-TOKEN": credentials["request_token"],
                "Content-Type": "application/json",
            },
            json_bytes({"identifiers": identifiers}),
        )

    def read(self, answer: HttpAnswer, targets: list[Target]) -> list[Verdict]:
        body = answer.json()
        text = error_text(body)
        lowered = text.lower()
        if 200 <= answer.status < 300 and (body == {} or not answer.body.strip()):
            # The documented success, and nothing else: {} or an empty body. An HTML page or an
            # error envelope inside a 2xx is not proof (verdict_for_status reads it as transient).
            verdict = Verdict(Outcome.DELETED, "", answer.status)
        elif answer.status == 404 and "no such user" in lowered:
            verdict = Verdict(Outcome.ALREADY_ABSENT, text, answer.status)
        elif answer.status == 400 and "partner is invalid" in lowered:
            verdict = Verdict(Outcome.UNAUTHORIZED, text, answer.status)
        elif answer.status == 403 and "limit" in lowered:
            retry_after = retry_after_seconds(answer.headers)
            verdict = Verdict(Outcome.THROTTLED, text, answer.status, retry_after)
        else:
            # The sole-identifier 400 is a refusal; any other 2xx is not proof of anything.
            verdict = verdict_for_status(answer.status, text, answer.headers)
        return [verdict] * len(targets)
