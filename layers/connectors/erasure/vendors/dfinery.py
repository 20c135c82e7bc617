"""Dfinery: POST /api/v1/identities/delete?service_id= — deletes a unified profile, one a call.

An HTTP 200 can still be a failure: the envelope's `code` (a string) decides. `request_datetime`
is the time the deletion was requested, the same on every retry, so a retry repeats the request.
Verification: Dfinery has no lookup by identifier, so its deletions are `unverifiable`.
"""

from __future__ import annotations

from urllib.parse import quote

from erasure.config import VendorSettings
from erasure.http_client import HttpAnswer, HttpRequest, json_bytes
from erasure.outcomes import Outcome, Verdict, retry_after_seconds, verdict_for_status
from erasure.request import Action, IdentifierType
from erasure.vendors.base import Connector, Operation, Target, error_text

SUCCESS = "20000"
CODE_OUTCOMES = {
    "40000": Outcome.REFUSED,  # BAD_REQUEST
    "40001": Outcome.REFUSED,  # VALIDATION_FAILURE
    "40101": Outcome.UNAUTHORIZED,  # INVALID_SERVICE_ID
    "40201": Outcome.UNAUTHORIZED,  # INVALID_TOKEN
    "40401": Outcome.THROTTLED,  # TOO_MANY_REQUEST
    "40402": Outcome.THROTTLED,  # TOO_MANY_EVENTS
    "40403": Outcome.THROTTLED,  # TOO_MANY_USER_PROFILES
    "50000": Outcome.TRANSIENT,  # INTERNAL_SERVER_ERROR
}


class DeleteIdentity(Operation):
    key, action, name = "delete", Action.DELETE_PROFILE, "POST /api/v1/identities/delete"
    serves = frozenset({IdentifierType.EXTERNAL_ID})
    max_batch = 1
    requests_per_minute = 10_000

    def build(self, targets: list[Target], settings: VendorSettings) -> HttpRequest:
        (target,) = targets
        service = quote(settings.credentials["service_id"], safe="")
        return HttpRequest(
            "POST",
            f"{settings.base_url}/api/v1/identities/delete?service_id={service}",
            {"access_token": settings.credentials["access_token"], "Content-Type": "application/json"},
            json_bytes(
                {
                    "identity": {"external_id": target.identifier.value},
                    "request_datetime": target.request.requested_at,
                }
            ),
        )

    def read(self, answer: HttpAnswer, targets: list[Target]) -> list[Verdict]:
        body = answer.json()
        code = str(body.get("code")) if isinstance(body, dict) and "code" in body else None
        reason = error_text(body)
        if code is None:
            if 200 <= answer.status < 300:
                verdict = Verdict(Outcome.TRANSIENT, "malformed answer", answer.status)
            else:
                verdict = verdict_for_status(answer.status, reason, answer.headers)
        elif code == SUCCESS and body.get("status") is True and answer.status == 200:
            verdict = Verdict(Outcome.DELETED, "", answer.status)  # the success body in its HTTP 200 only
        elif code in CODE_OUTCOMES:
            outcome = CODE_OUTCOMES[code]
            wait = retry_after_seconds(answer.headers) if outcome is Outcome.THROTTLED else None
            verdict = Verdict(outcome, f"{code} {reason}".strip(), answer.status, wait)
        elif 200 <= answer.status < 300:
            # An undocumented code inside a 200: not proof of anything, so try again later.
            verdict = Verdict(Outcome.TRANSIENT, f"unknown code {code} {reason}".strip(), answer.status)
        else:  # a gateway's own error body: its HTTP status says more than its code
            verdict = verdict_for_status(answer.status, f"{code} {reason}".strip(), answer.headers)
        return [verdict]


class Dfinery(Connector):
    name = "dfinery"
    operations = (DeleteIdentity(),)
    no_lookup_reason = (
        "Dfinery has no lookup by identifier: only a CSV export of a whole population or audience, "
        "100 requests an hour, which cannot show one person gone"
    )
    credential_fields = ("service_id", "access_token")
    url_variable, default_url = "DFINERY_API_URL", "https://openapi.dfinery.ai"
    default_concurrency = 8
