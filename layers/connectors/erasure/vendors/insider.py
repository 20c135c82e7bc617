"""Insider: DELETE /api/user/v1/identity — deletes the value of one identifier, keeps the user.

One user per call; we send one identifier per call so every answer is about exactly one
identifier. X-PARTNER-NAME must be lowercase. Deleting a user's sole identifier is a 400;
throttling is a 429 with Retry-After, or on some hosts a 403 "Request limit exceeded".
"""

from __future__ import annotations

from collections.abc import Mapping

from erasure.http import HttpAnswer, HttpRequest, json_body
from erasure.outcomes import Outcome, Verdict, retry_after_seconds, verdict_for_status
from erasure.request import Action, IdentifierType
from erasure.vendors.base import Connector, Target, error_text, url_from_env

DEFAULT_URL = "https://unification.useinsider.com"


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
    max_body_bytes = 5 * 1024 * 1024
    requests_per_minute = 1000
    default_concurrency = 8

    def base_url(self, env: Mapping[str, str]) -> str:
        return url_from_env(env, "INSIDER_API_URL", DEFAULT_URL)

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
            json_body({"identifiers": identifiers}),
        )

    def read(self, answer: HttpAnswer, targets: list[Target]) -> list[Verdict]:
        body = answer.json()
        text = error_text(body)
        lowered = text.lower()
        if 200 <= answer.status < 300 and (text or (isinstance(body, dict) and body.get("success") is False)):
            # Success is documented as {} or empty; an error envelope in a 2xx is not proof.
            verdict = Verdict(Outcome.TRANSIENT, f"error inside a {answer.status}: {text}", answer.status)
        elif answer.status == 404 and "no such user" in lowered:
            verdict = Verdict(Outcome.ALREADY_ABSENT, text, answer.status)
        elif answer.status == 400 and "partner is invalid" in lowered:
            verdict = Verdict(Outcome.UNAUTHORIZED, text, answer.status)
        elif answer.status == 403 and "limit" in lowered:
            retry_after = retry_after_seconds(answer.headers)
            verdict = Verdict(Outcome.THROTTLED, text, answer.status, retry_after)
        else:
            # 2xx with {} or an empty body is success; the sole-identifier 400 is a refusal.
            verdict = verdict_for_status(answer.status, text, answer.headers)
        return [verdict] * len(targets)
