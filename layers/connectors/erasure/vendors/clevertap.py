"""CleverTap: delete_profile is POST /1/delete/profiles.json, 100 profiles a call.

`identity` or `guid`, never both in one call (400). The limit is on concurrent requests, not a
window: over it, 429 "Too many concurrent requests", no rate headers. Envelope: status
success / partial / fail, with `error` and `code` on failure. "success" is `accepted`, not
`deleted`: CleverTap deletes the profiles later, in a batch within 48 hours.
"""

from __future__ import annotations

from erasure.config import VendorSettings
from erasure.http_client import HttpAnswer, HttpRequest, json_bytes
from erasure.outcomes import Outcome, Verdict, verdict_for_status
from erasure.request import Action, IdentifierType
from erasure.vendors.base import Connector, Operation, Target, error_text

REGION_HOSTS = {
    "in1": "in1.api.clevertap.com",
    "sg1": "sg1.api.clevertap.com",
    "us1": "us1.api.clevertap.com",
    "aps3": "aps3.api.clevertap.com",
    "mec1": "mec1.api.clevertap.com",
    "eu1": "api.clevertap.com",  # Europe's documented host
}
# Our external_id is CleverTap's `identity`; guid is CleverTap's own id.
_FIELD = {IdentifierType.EXTERNAL_ID: "identity", IdentifierType.GUID: "guid"}


class DeleteProfiles(Operation):
    key, action, name = "delete", Action.DELETE_PROFILE, "POST /1/delete/profiles.json"
    serves = frozenset(_FIELD)
    max_batch = 100
    # No per-minute limit: a limit on concurrent requests (3 per account), see default_concurrency.

    def build(self, targets: list[Target], settings: VendorSettings) -> HttpRequest:
        field = _FIELD[targets[0].identifier.type]
        return HttpRequest(
            "POST",
            f"{settings.base_url}/1/delete/profiles.json",
            {
                "X-CleverTap-Account-Id": settings.credentials["account_id"],
                "X-CleverTap-Passcode": settings.credentials["passcode"],
                "Content-Type": "application/json; charset=utf-8",
            },
            json_bytes({field: [t.identifier.value for t in targets]}),
        )

    def read(self, answer: HttpAnswer, targets: list[Target]) -> list[Verdict]:
        body = answer.json()
        status = body.get("status") if isinstance(body, dict) else None
        if not 200 <= answer.status < 300:
            verdict = verdict_for_status(answer.status, error_text(body), answer.headers)
        elif status == "success":
            verdict = Verdict(
                Outcome.ACCEPTED, "CleverTap deletes profiles in a batch within 48 hours", answer.status
            )
        elif status == "fail":
            code = body.get("code")
            if isinstance(code, int) and 400 <= code < 600:
                verdict = verdict_for_status(code, error_text(body), answer.headers)
                verdict = Verdict(verdict.outcome, verdict.reason, answer.status, verdict.retry_after)
            elif "too many" in error_text(body).lower():
                verdict = Verdict(Outcome.THROTTLED, error_text(body), answer.status)
            else:  # a failure that does not say which kind: not a reason to give up for good
                verdict = Verdict(
                    Outcome.TRANSIENT, error_text(body) or "failed without a code", answer.status
                )
        elif status == "partial":
            # No per-profile detail is documented: deleting again is harmless, so retry them all.
            verdict = Verdict(Outcome.TRANSIENT, "partial success without detail", answer.status)
        else:
            verdict = Verdict(Outcome.TRANSIENT, "malformed answer", answer.status)
        return [verdict] * len(targets)


class CleverTap(Connector):
    name = "clevertap"
    operations = (DeleteProfiles(),)
    credential_fields = ("account_id", "passcode")
    url_variable, host_variable, hosts = "CLEVERTAP_API_URL", "CLEVERTAP_REGION", REGION_HOSTS
    default_concurrency = 1  # x the queue's MaximumConcurrency of 2 stays under 3 in flight
