"""The Resolver's rules (erasure/resolution.py) at each vendor, against scripted vendor answers:
a real Relay and the real connectors, an in-memory HttpClient that answers per path and keeps a
log of every call it was sent."""

from __future__ import annotations

import json
from dataclasses import replace
from urllib.parse import urlsplit

from erasure.config import VendorSettings
from erasure.http_client import HttpAnswer, HttpRequest
from erasure.observability import IdentifierHasher
from erasure.outcomes import IdentifierResult
from erasure.relay import Relay
from erasure.request import Identifier, IdentifierType
from erasure.resolution import Resolution, Resolver
from erasure.vendors import CONNECTORS
from tests.helpers import CREDENTIALS, request

EXPORT, BRAZE_DELETE = "/users/export/ids", "/users/delete"
INSIDER_PROFILE, INSIDER_DELETE = "/api/user/v1/profile", "/api/user/v1/delete"
EMAIL = Identifier(IdentifierType.EMAIL, "jane@example.com")


def braze_id(value: str) -> Identifier:
    return Identifier(IdentifierType.BRAZE_ID, value)


class ScriptedHttp:
    """An HttpClient whose vendor answers each path as scripted: (status, body), or a function of
    the request's JSON body giving one. Every call is logged as (path, JSON body)."""

    def __init__(self, answers: dict):
        self.answers = answers
        self.calls: list[tuple[str, object]] = []

    def send(self, call: HttpRequest) -> HttpAnswer:
        path = urlsplit(call.url).path
        body = json.loads(call.body) if call.body else None
        self.calls.append((path, body))
        answer = self.answers.get(path, (404, {"message": "no such route"}))
        status, reply = answer(body) if callable(answer) else answer
        headers = {"Retry-After": "30"} if status == 429 else {}
        return HttpAnswer(status, headers, json.dumps(reply).encode())

    def paths(self) -> list[str]:
        return [path for path, _ in self.calls]


def resolver(vendor: str, answers: dict) -> tuple[Resolver, ScriptedHttp]:
    connector, http = CONNECTORS[vendor], ScriptedHttp(answers)
    settings = VendorSettings(
        "http://vendor.test", CREDENTIALS[vendor], 1, {}, 1.0, 1.0, connector.options({})
    )
    return Resolver(Relay(connector, settings, IdentifierHasher(b"k" * 32), http)), http


def erase(vendor: str, answers: dict, deletion) -> tuple[dict[Identifier, IdentifierResult], ScriptedHttp]:
    """One request through resolve and delete: its results by identifier, and the calls made."""
    resolve, http = resolver(vendor, answers)
    (results,) = resolve.delete(resolve.resolve([deletion], None, {}), None, {})
    by_identifier = {r.identifier: r for r in results}
    assert len(by_identifier) == len(results), results  # one result per identifier
    return by_identifier, http


def found(deletion, vendor: str, answers: dict) -> Resolution:
    resolve, _ = resolver(vendor, answers)
    (resolution,) = resolve.resolve([deletion], None, {})
    return resolution


def users(*found_users: dict):
    return (201, {"users": list(found_users), "message": "success"})


JANE = {"braze_id": "b-jane", "external_id": "jane-1", "email": "jane@example.com", "phone": "+6591234567"}
LEAD = {"braze_id": "b-lead", "email": "jane@example.com"}
OTHER = {"braze_id": "b-other", "external_id": "other-9", "email": "jane@example.com"}
QUEUED = (201, {"deleted": 2, "message": "success"})


# -- Braze: an email is found first, and each of its profiles deleted by braze_id ------------------------


def test_an_email_finding_a_person_and_a_lead_is_resolved_through_both_braze_ids():
    results, http = erase(
        "braze", {EXPORT: users(JANE, LEAD), BRAZE_DELETE: QUEUED}, request({"email": EMAIL.value})
    )
    email = results[EMAIL]
    assert email.verdict.outcome == "resolved"
    assert set(email.resolved_to) == {braze_id("b-jane"), braze_id("b-lead")}
    for profile in ("b-jane", "b-lead"):
        assert results[braze_id(profile)].verdict.outcome == "accepted"
        assert results[braze_id(profile)].resolved_from == EMAIL
    assert len(results) == 3
    # Deleted by braze_id only: never by the email, whose prioritization could pick the wrong one.
    deletes = [body for path, body in http.calls if path == BRAZE_DELETE]
    assert len(deletes) == 1 and set(deletes[0]) == {"braze_ids"}
    assert sorted(deletes[0]["braze_ids"]) == ["b-jane", "b-lead"]


def test_an_email_held_by_two_people_is_ambiguous_and_nothing_is_deleted():
    results, http = erase(
        "braze", {EXPORT: users(JANE, OTHER), BRAZE_DELETE: QUEUED}, request({"email": EMAIL.value})
    )
    email = results[EMAIL]
    assert email.verdict.outcome == "ambiguous"
    assert "2 different people" in email.verdict.reason
    assert email.resolved_to == ()
    assert list(results) == [EMAIL]
    assert http.paths() == [EXPORT]  # no delete call at all


def test_an_email_whose_profile_is_another_persons_is_ambiguous_the_given_external_id_still_deleted():
    deletion = request({"external_id": "jane-1", "email": EMAIL.value})
    results, http = erase("braze", {EXPORT: users(OTHER), BRAZE_DELETE: QUEUED}, deletion)
    assert results[EMAIL].verdict.outcome == "ambiguous"
    assert results[Identifier(IdentifierType.EXTERNAL_ID, "jane-1")].verdict.outcome == "accepted"
    deletes = [body for path, body in http.calls if path == BRAZE_DELETE]
    assert deletes == [{"external_ids": ["jane-1"]}]  # not the other person's braze_id


def test_a_lead_found_with_the_given_external_id_goes_with_the_person():
    deletion = request({"external_id": "jane-1", "email": EMAIL.value})
    results, http = erase("braze", {EXPORT: users(LEAD), BRAZE_DELETE: QUEUED}, deletion)
    assert results[EMAIL].verdict.outcome == "resolved"
    assert results[braze_id("b-lead")].resolved_from == EMAIL
    assert sorted(json.dumps(body) for path, body in http.calls if path == BRAZE_DELETE) == [
        json.dumps({"braze_ids": ["b-lead"]}),
        json.dumps({"external_ids": ["jane-1"]}),
    ]


def test_a_dry_run_finds_and_deletes_nothing():
    def export(body):
        return users(JANE, LEAD) if "email_address" in body else users()

    deletion = request({"phone_number": "+6500000000", "email": EMAIL.value, "guid": "ct-1"}, dry_run=True)
    results, http = erase("braze", {EXPORT: export, BRAZE_DELETE: QUEUED}, deletion)
    assert results[EMAIL].verdict.outcome == "would_delete"
    assert "2 profile(s) (1 identified, 1 anonymous)" in results[EMAIL].verdict.reason
    assert set(results[EMAIL].resolved_to) == {braze_id("b-jane"), braze_id("b-lead")}
    assert results[Identifier(IdentifierType.PHONE_NUMBER, "+6500000000")].verdict.outcome == "not_found"
    assert results[Identifier(IdentifierType.GUID, "ct-1")].verdict.outcome == "skipped"
    assert len(results) == 3  # the profile ids found are listed on the email, not as deleted
    assert set(http.paths()) == {EXPORT}  # no delete call at all


def test_a_dry_run_that_finds_two_people_is_ambiguous_and_deletes_nothing():
    results, http = erase(
        "braze", {EXPORT: users(JANE, OTHER)}, request({"email": EMAIL.value}, dry_run=True)
    )
    assert results[EMAIL].verdict.outcome == "ambiguous"
    assert http.paths() == [EXPORT]


def test_a_dfinery_dry_run_has_no_lookup_and_says_what_would_be_sent():
    deletion = request({"external_id": "crm-1", "email": EMAIL.value}, dry_run=True)
    results, http = erase("dfinery", {}, deletion)
    external_id = results[Identifier(IdentifierType.EXTERNAL_ID, "crm-1")]
    assert external_id.verdict.outcome == "no_lookup"
    assert "a deletion would be sent by external_id" in external_id.verdict.reason
    assert "Dfinery has no lookup" in external_id.verdict.reason
    assert results[EMAIL].verdict.outcome == "skipped"
    assert http.calls == []


def test_a_throttled_lookup_is_throttled_and_nothing_is_deleted():
    results, http = erase(
        "braze",
        {EXPORT: (429, {"message": "Rate limit exceeded"}), BRAZE_DELETE: QUEUED},
        request({"email": EMAIL.value}),
    )
    assert results[EMAIL].verdict.outcome == "throttled"
    assert results[EMAIL].verdict.retry_after == 30
    assert list(results) == [EMAIL]
    assert http.paths() == [EXPORT]


def test_a_profile_id_delete_answered_500_leaves_the_given_identifier_to_retry_not_resolved():
    results, http = erase(
        "braze",
        {EXPORT: users(JANE), BRAZE_DELETE: (500, {"message": "internal"})},
        request({"email": EMAIL.value}),
    )
    email = results[EMAIL]
    assert email.verdict.outcome == "transient"
    assert "1 of 1 profile id(s) not yet erased" in email.verdict.reason
    assert results[braze_id("b-jane")].verdict.outcome == "transient"
    assert results[braze_id("b-jane")].resolved_from == EMAIL
    assert http.paths() == [EXPORT, BRAZE_DELETE]


def test_a_refused_profile_id_makes_the_given_identifier_refused():
    results, _ = erase(
        "braze",
        {EXPORT: users(JANE), BRAZE_DELETE: (400, {"message": "Invalid request"})},
        request({"email": EMAIL.value}),
    )
    assert results[EMAIL].verdict.outcome == "refused"
    assert "1 of 1 profile id(s) refused" in results[EMAIL].verdict.reason


def test_an_email_found_by_no_one_is_already_absent_and_nothing_is_sent():
    results, http = erase("braze", {EXPORT: users(), BRAZE_DELETE: QUEUED}, request({"email": EMAIL.value}))
    assert results[EMAIL].verdict.outcome == "already_absent"
    assert http.paths() == [EXPORT]


# -- Insider: whatever is given, the person's identifiers are read first, and all go in one delete --------


def test_insider_by_phone_deletes_with_every_identifier_the_profile_names():
    profile = (200, {"attributes": {"email": EMAIL.value, "phone_number": "+6591234567", "uuid": "u-jane"}})
    phone = Identifier(IdentifierType.PHONE_NUMBER, "+6591234567")
    results, http = erase(
        "insider",
        {INSIDER_PROFILE: profile, INSIDER_DELETE: (200, {})},
        request({"phone_number": phone.value}),
    )
    assert http.paths() == [INSIDER_PROFILE, INSIDER_DELETE]
    (lookup, delete) = (body for _, body in http.calls)
    assert lookup["attributes"] == ["email", "phone_number", "uuid"]
    assert delete == {"identifiers": {"email": EMAIL.value, "phone_number": "+6591234567", "uuid": "u-jane"}}
    assert results[phone].verdict.outcome == "accepted"  # in the person's own delete
    assert set(results[phone].resolved_to) == {EMAIL, Identifier(IdentifierType.UUID, "u-jane")}
    assert results[EMAIL].resolved_from == phone


def test_insider_ambiguous_when_the_profile_names_another_uuid_than_the_given_one():
    profile = (200, {"attributes": {"email": EMAIL.value, "uuid": "u-other"}})
    deletion = request({"uuid": "u-jane", "email": EMAIL.value})
    results, http = erase("insider", {INSIDER_PROFILE: profile, INSIDER_DELETE: (200, {})}, deletion)
    assert {str(r.verdict.outcome) for r in results.values()} == {"ambiguous"}
    assert INSIDER_DELETE not in http.paths()


# -- Resolution.learned(): what enrichment carries to the other vendors ------------------------------------


def test_learned_only_with_enrich():
    deletion = request({"email": EMAIL.value}, enrich=True)
    learned = found(deletion, "braze", {EXPORT: users(JANE, LEAD)}).learned()
    assert learned == sorted(
        [
            (braze_id("b-jane"), EMAIL),
            (braze_id("b-lead"), EMAIL),
            (Identifier(IdentifierType.EXTERNAL_ID, "jane-1"), EMAIL),
            (Identifier(IdentifierType.PHONE_NUMBER, "+6591234567"), EMAIL),
        ]
    )
    assert found(request({"email": EMAIL.value}), "braze", {EXPORT: users(JANE)}).learned() == []


def test_nothing_is_learned_in_a_step_of_learned_identifiers():
    step = replace(request({"external_id": "jane-1"}, enrich=True), learned=(EMAIL,), learned_from="insider")
    resolution = found(step, "braze", {EXPORT: users(JANE)})
    assert resolution.found()  # the learned email was looked up (Braze resolves emails) ...
    assert resolution.learned() == []  # ... but one hop: nothing is learned from it


def test_nothing_is_learned_from_the_profiles_of_two_people():
    resolution = found(request({"email": EMAIL.value}, enrich=True), "braze", {EXPORT: users(JANE, OTHER)})
    assert resolution.ambiguous == 2
    assert resolution.learned() == []


def test_lookups_leave_time_to_delete_what_they_found_in_the_same_invocation():
    # More people than the invocation's time lets it look up (the bench found a Braze batch of
    # 100 emails spending every invocation on lookups, then coming back to look them up again).
    import time

    def slow_export(body):
        time.sleep(0.05)
        return users({"braze_id": f"b-{body['email_address']}", "email": body["email_address"]})

    resolve, http = resolver("braze", {EXPORT: slow_export, BRAZE_DELETE: (201, {"deleted": 1})})
    people = [request({"email": f"p{n}@example.com"}) for n in range(60)]
    # 3 s a call here (1 s to connect, 1 to read, 1 to write): the last lookup starts 5 s before
    # the end (3, and 2 for the deletion to begin after it), the deletion 3 s before.
    deadline = time.monotonic() + 5.5

    def remaining_ms() -> int:
        return int((deadline - time.monotonic()) * 1000)

    results = resolve.delete(resolve.resolve(people, remaining_ms, {}), remaining_ms, {})
    given = [r for rs in results for r in rs if r.identifier.type is IdentifierType.EMAIL]
    resolved = [r for r in given if str(r.verdict.outcome) == "resolved"]
    assert 0 < len(resolved) < len(people)  # what was found is erased now; the rest comes again
    assert all("out of time" in r.verdict.reason for r in given if r not in resolved)
    assert BRAZE_DELETE in http.paths()
