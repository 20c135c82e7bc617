"""CleverTap: delete_profile is POST /1/delete/profiles.json, 100 profiles a call.

`identity` or `guid`, never both in one call (400). The limit is on concurrent requests, not a
window: over it, 429 "Too many concurrent requests", no rate headers. Envelope: status
success / partial / fail, with `error` and `code` on failure. "success" is `accepted`, not
`deleted`: CleverTap deletes the profiles later, in a batch within 48 hours.

Verification: GET /1/profile.json?identity= (or objectId= for a guid), one id a call, within the
same kind of concurrency limit. Its "not found" answer is undocumented: only `status: success`
without a record, or `status: fail` saying not found, counts as gone; a record is still present;
anything else is `unverifiable` with CleverTap's words. First check 48 hours after the deletion,
after CleverTap's deletion batch.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from erasure.config import VendorSettings
from erasure.http_client import HttpAnswer, HttpRequest, json_bytes
from erasure.outcomes import (
    Outcome,
    Profile,
    Verdict,
    Verification,
    lookup_verdict_for_status,
    verdict_for_status,
)
from erasure.request import Action, Identifier, IdentifierType
from erasure.vendors.base import Connector, Lookup, Operation, Target, error_text, is_text

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
# ... and what /1/profile.json looks each up by (objectId is the CleverTap id). There is no
# delete by email: an email's profile is found here, then deleted by its guid.
_QUERY = {
    IdentifierType.EXTERNAL_ID: "identity",
    IdentifierType.GUID: "objectId",
    IdentifierType.EMAIL: "email",
}
# Only a text about the person: "Account not found" is not "User not found".
_NOT_FOUND = re.compile(
    # "no such user" ends there; "no profile identifier given" is about the request, not the person.
    r"\b(user|profile|record)s? (not found|does not exist)"
    r"|\bno (such )?(user|profile|record)s?(?=\s*$|[ .,;:!]+(found|exists?)\b|[.,;:!])",
    re.IGNORECASE,
)


def _credentials(settings: VendorSettings) -> dict[str, str]:
    return {
        "X-CleverTap-Account-Id": settings.credentials["account_id"],
        "X-CleverTap-Passcode": settings.credentials["passcode"],
    }


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
            {**_credentials(settings), "Content-Type": "application/json; charset=utf-8"},
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


class ProfileLookup(Lookup):
    key, name = "profile", "GET /1/profile.json"
    serves = frozenset(_QUERY)
    resolves = frozenset({IdentifierType.EMAIL})
    max_batch = 1
    # No per-minute limit: concurrent requests, like the deletion (a third party lists 3).

    def build(self, targets: list[Target], settings: VendorSettings) -> HttpRequest:
        (target,) = targets
        query = f"{_QUERY[target.identifier.type]}={quote(target.identifier.value, safe='')}"
        return HttpRequest("GET", f"{settings.base_url}/1/profile.json?{query}", _credentials(settings), b"")

    def read(self, answer: HttpAnswer, targets: list[Target]) -> list[Verdict]:
        body = answer.json()
        status = body.get("status") if isinstance(body, dict) else None
        text = error_text(body)
        if not 200 <= answer.status < 300:
            verdict = lookup_verdict_for_status(answer.status, text, answer.headers)
            if answer.status == 404 and status == "fail":  # CleverTap's own envelope, not a wrong URL
                verdict = Verdict(
                    Verification.UNVERIFIABLE, f"a 404 is not CleverTap's documented answer: {text}", 404
                )
        elif status == "success" and _records(body.get("record")):
            verdict = Verdict(
                Verification.STILL_PRESENT,
                "CleverTap still returns the profile",
                answer.status,
                profiles=tuple(_profile(r) for r in _records(body["record"])),
            )
        elif status == "success" and body.get("record") is None:  # no record: not false, "" or 0
            verdict = Verdict(Verification.VERIFIED_ABSENT, "CleverTap returns no record", answer.status)
        elif status == "fail" and isinstance(body.get("code"), int) and body["code"] != 404:
            verdict = lookup_verdict_for_status(body["code"], text, answer.headers)
            verdict = Verdict(verdict.outcome, verdict.reason, answer.status, verdict.retry_after)
        elif status == "fail" and "too many" in text.lower():
            verdict = Verdict(Outcome.THROTTLED, text, answer.status)
        elif status == "fail" and _NOT_FOUND.search(text):
            verdict = Verdict(Verification.VERIFIED_ABSENT, f"CleverTap: {text}", answer.status)
        elif isinstance(body, dict) and status in ("success", "fail", "partial"):
            reason = f"CleverTap's answer does not say whether the profile exists: {status} {text}"
            verdict = Verdict(Verification.UNVERIFIABLE, reason.strip(), answer.status)
        else:
            verdict = Verdict(Outcome.TRANSIENT, "malformed answer", answer.status)
        return [verdict]


def _records(record: object) -> list[dict]:
    """The profile record(s) of an answer: the page shows one object; a list is read too."""
    records = record if isinstance(record, list) else [record]
    return [r for r in records if isinstance(r, dict) and r]


def _profile(record: dict) -> Profile:
    """A record as a profile: its identity, email and guids (`objectId`, and each device's in
    `platformInfo`): the exact shape is not documented, so each is read only where it is text."""
    ids = [
        Identifier(kind, record[field])
        for field, kind in (("identity", IdentifierType.EXTERNAL_ID), ("email", IdentifierType.EMAIL))
        if is_text(record.get(field))
    ]
    platforms = record.get("platformInfo")
    devices: list = platforms if isinstance(platforms, list) else []
    guids = [record.get("objectId"), *(p.get("objectId") for p in devices if isinstance(p, dict))]
    ids += [Identifier(IdentifierType.GUID, g) for g in dict.fromkeys(g for g in guids if is_text(g))]
    return Profile(tuple(sorted(set(ids))), record["identity"] if is_text(record.get("identity")) else None)


class CleverTap(Connector):
    name = "clevertap"
    operations = (DeleteProfiles(),)
    lookup = ProfileLookup()

    def erase_by(self, profile: Profile) -> tuple[Identifier, ...]:
        """Its guids when the record names them (exact), else its identity."""
        guids = tuple(i for i in profile.identifiers if i.type is IdentifierType.GUID)
        return guids or tuple(i for i in profile.identifiers if i.type is IdentifierType.EXTERNAL_ID)

    verify_after_s = 48 * 3600  # profiles go in a nightly batch "in the next 48 hours"
    credential_fields = ("account_id", "passcode")
    url_variable, host_variable, hosts = "CLEVERTAP_API_URL", "CLEVERTAP_REGION", REGION_HOSTS
    default_concurrency = 1  # x the queue's MaximumConcurrency of 2 stays under 3 in flight
