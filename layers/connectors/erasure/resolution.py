"""Identity resolution at one vendor: before a profile is deleted, the vendor's own lookup finds
every profile the given identifiers name, and each is deleted by its exact id.

- A given identifier whose type the vendor's lookup `resolves` (each vendor module says which,
  and why) is always looked up first. Others are looked up only to enrich the request (never in
  a step of learned identifiers: one hop), or in a dry run. Every other identifier goes to the
  delete as it is.
- One person, never two: when the profiles found, with the person ids (`person_type`) the
  request names, belong to more than one identified person, none of them is deleted here: each
  identifier that found them is `ambiguous`. Anonymous profiles (leads) go with the person.
- Each profile is deleted by `connector.erase_by(profile)`, recorded with `resolved_from`; the
  given identifier is `resolved` once all of them are erased (final successes), retried while
  any is to be retried, and `refused` when one was refused.
- A dry run looks up and deletes nothing: `would_delete`, `not_found`, `ambiguous`, `no_lookup`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from erasure.outcomes import (
    IdentifierResult,
    Outcome,
    PriorOutcome,
    Profile,
    Verdict,
    Verification,
    settled_result,
)
from erasure.relay import Relay, after_unconfirmed
from erasure.request import DeletionRequest, Identifier, IdentifierType
from erasure.vendors.base import Connector

PriorReader = Callable[[list[tuple[str, Identifier]]], Mapping[tuple[str, Identifier], PriorOutcome]]


@dataclass
class Resolution:
    """One request at one vendor: what to look up, what its lookups found, what to delete."""

    request: DeletionRequest
    direct: list[Identifier]  # sent to the delete as they are
    looked_up: list[IdentifierResult] = field(default_factory=list)
    ambiguous: int = 0  # identified people among the profiles found; 2 or more: none deleted

    def found(self) -> dict[Identifier, tuple[Profile, ...]]:
        return {r.identifier: r.verdict.profiles for r in self.looked_up if r.verdict.profiles}

    def learned(self) -> list[tuple[Identifier, Identifier]]:
        """(identifier, the given one whose profiles named it), new to the request: what
        enrichment carries to the other vendors. Nothing when the profiles are not one person's."""
        if self.ambiguous or not self.request.enrich or self.request.learned_from:
            return []
        known = set(self.request.identifiers)
        learned: dict[Identifier, Identifier] = {}
        for given, profiles in self.found().items():
            for profile in profiles:
                for identifier in profile.identifiers:
                    if identifier not in known:
                        learned.setdefault(identifier, given)
        return sorted(learned.items())


class Resolver:
    def __init__(self, relay: Relay, prior_of: PriorReader | None = None):
        self.relay = relay
        self.prior_of = prior_of

    def resolve(
        self,
        requests: list[DeletionRequest],
        remaining_ms: Callable[[], int] | None,
        prior: Mapping[tuple[str, Identifier], PriorOutcome],
    ) -> list[Resolution]:
        """Look up what each request's identifiers name (the fewest lookups the rules allow)."""
        connector = self.relay.connector
        resolutions, lookups = [], []
        for request in requests:
            to_look_up, direct = [], []
            for identifier in request.acted_on:
                earlier = prior.get((request.request_id, identifier))
                wanted = connector.resolves(request.action, identifier) or request.dry_run
                wanted |= request.enrich and not request.learned_from
                settled = earlier is not None and earlier.verdict.outcome.is_final
                if wanted and not settled and connector.can_look_up(request.action, identifier):
                    to_look_up.append(identifier)
                else:
                    direct.append(identifier)
            resolutions.append(Resolution(request, direct))
            lookups.append(replace(request, identifiers=tuple(to_look_up)))
        asked = [n for n, r in enumerate(lookups) if r.identifiers]
        settings = self.relay.settings
        # Time for the deletion to begin after a lookup that answers as lookups do (well within a
        # second): its connection and its write. One that takes its whole read timeout leaves the
        # deletion out of time, retried soon; reserving that too would leave a vendor route's
        # 29 s almost no time to look anything up.
        within = _leaving_time_to_delete(remaining_ms, settings.connect_timeout + settings.written_within_s)
        found = self.relay.look_up([lookups[n] for n in asked], within, resolving=True) if asked else []
        declared = frozenset(self.relay.settings.options.get("custom_identifiers", ()))
        for n, results in zip(asked, found, strict=True):
            resolutions[n].looked_up = [_declared_only(r, declared) for r in results]
            resolutions[n].ambiguous = _people(resolutions[n], connector.person_type)
        return resolutions

    def delete(
        self,
        resolutions: list[Resolution],
        remaining_ms: Callable[[], int] | None,
        prior: Mapping[tuple[str, Identifier], PriorOutcome],
        sent_before: frozenset[str] = frozenset(),
    ) -> list[list[IdentifierResult]]:
        """Delete what was found (and the direct identifiers); one list of results per request:
        the identifiers it acted on, then the profile ids they were erased through."""
        plans = [_Plan.of(self.relay.connector, r) for r in resolutions]
        to_send = [
            replace(res.request, identifiers=tuple(dict.fromkeys([*res.direct, *plan.profile_ids])))
            for res, plan in zip(resolutions, plans, strict=True)
        ]
        live = [
            n for n, (res, r) in enumerate(zip(resolutions, to_send, strict=True)) if not res.request.dry_run
        ]
        prior = dict(prior)
        new_pairs = [(to_send[n].request_id, i) for n in live for i in plans[n].profile_ids]
        if new_pairs and self.prior_of:
            prior.update(self.prior_of(new_pairs))
        sent = self.relay.run([to_send[n] for n in live], remaining_ms, prior, sent_before) if live else []
        by_request = dict(zip(live, sent, strict=True))
        return [
            plan.results(self.relay, by_request.get(n), prior, sent_before) for n, plan in enumerate(plans)
        ]


def _leaving_time_to_delete(
    remaining_ms: Callable[[], int] | None, reserve_s: float
) -> Callable[[], int] | None:
    """The time lookups may take: all but `reserve_s`, so that what they found is deleted in the
    same invocation (a batch larger than the read limit allows would otherwise spend every
    invocation looking up and come back to look up the same people again)."""
    if remaining_ms is None:
        return None
    return lambda: remaining_ms() - int(reserve_s * 1000)


def _declared_only(result: IdentifierResult, names: frozenset[str]) -> IdentifierResult:
    """A lookup's profiles with only the custom identifiers this deployment declares: a read may
    return custom attributes that are no identifier (a favourite colour), never to be sent on."""
    if not result.verdict.profiles:
        return result
    profiles = tuple(
        replace(
            p,
            identifiers=tuple(
                i for i in p.identifiers if i.type is not IdentifierType.CUSTOM or i.name in names
            ),
        )
        for p in result.verdict.profiles
    )
    return replace(result, verdict=replace(result.verdict, profiles=profiles))


def _people(resolution: Resolution, person_type: IdentifierType) -> int:
    """How many identified people the found profiles belong to, with those the request names;
    0 when they are one person's (or no one's)."""
    request = resolution.request
    named = {i.value for i in (*request.identifiers, *request.learned) if i.type is person_type}
    found = {p.person for profiles in resolution.found().values() for p in profiles if p.person}
    people = named | found
    return len(people) if found and len(people) > 1 else 0


@dataclass(frozen=True)
class _Plan:
    """What one request's lookups lead to: per identifier that found profiles, the ids they are
    deleted by (none when ambiguous), and how each identifier's result reads."""

    connector: Connector
    resolution: Resolution
    erase: Mapping[Identifier, tuple[Identifier, ...]]

    @classmethod
    def of(cls, connector: Connector, resolution: Resolution) -> _Plan:
        found = {} if resolution.ambiguous else resolution.found()
        erase = {
            given: tuple(dict.fromkeys(i for p in profiles for i in connector.erase_by(p)))
            for given, profiles in found.items()
        }
        return cls(connector, resolution, erase)

    @property
    def profile_ids(self) -> list[Identifier]:
        return list(dict.fromkeys(i for ids in self.erase.values() for i in ids))

    def results(self, relay: Relay, sent, prior, sent_before) -> list[IdentifierResult]:
        request = self.resolution.request
        by_id = {r.identifier: r for r in sent or ()}
        answered = [by_id.get(i) or self._not_sent(relay, i, prior) for i in self.resolution.direct]
        for looked in self.resolution.looked_up:
            verdict = self._verdict(
                looked, by_id, prior.get((request.request_id, looked.identifier)), sent_before
            )
            ids = _without(self.erase.get(looked.identifier, ()), looked.identifier)
            if looked.identifier in by_id:  # sent after all, as a profile's id (a per-person delete)
                answered.append(replace(by_id[looked.identifier], resolved_to=ids))
            else:
                answered.append(replace(looked, verdict=verdict, resolved_to=ids))
        done = {r.identifier for r in answered}
        for given, ids in self.erase.items():
            for identifier in ids:
                if identifier not in done and identifier in by_id:
                    answered.append(replace(by_id[identifier], resolved_from=given))
                    done.add(identifier)
        return answered

    def _not_sent(self, relay: Relay, identifier: Identifier, prior) -> IdentifierResult:
        """A dry run's direct identifier: what stands, skipped, or served without a lookup."""
        request, connector = self.resolution.request, self.connector
        settled = settled_result(
            request.request_id, connector.name, identifier, prior.get((request.request_id, identifier))
        )
        if settled:
            return settled
        skip = connector.skip_reason(request.action, identifier)
        why = connector.unverifiable_reason(request.action, identifier) or "no lookup applies"
        verdict = (
            Verdict(Outcome.SKIPPED, skip)
            if skip
            else Verdict(Outcome.NO_LOOKUP, f"{why}; a deletion would be sent by {identifier.type}")
        )
        return IdentifierResult(request.request_id, connector.name, identifier, verdict, None)

    def _verdict(self, looked: IdentifierResult, by_id, earlier, sent_before: frozenset[str]) -> Verdict:
        """What an identifier that was looked up comes to."""
        request, verdict = self.resolution.request, replace(looked.verdict, profiles=())
        vendor, outcome = self.connector.name, verdict.outcome
        if isinstance(outcome, Outcome):  # to look up again (throttled, transient, unauthorized)
            return verdict
        if outcome is Verification.UNVERIFIABLE:  # the lookup refused, or an answer it cannot place
            said_no = (verdict.http_status or 0) >= 400
            return replace(verdict, outcome=Outcome.REFUSED if said_no else Outcome.TRANSIENT)
        profiles = looked.verdict.profiles
        if outcome is Verification.VERIFIED_ABSENT or not profiles:
            absent = Outcome.NOT_FOUND if request.dry_run else Outcome.ALREADY_ABSENT
            found_none = replace(verdict, outcome=absent, reason=f"{vendor}'s lookup finds no profile by it")
            return after_unconfirmed(found_none, earlier, request.request_id in sent_before)
        identified = sum(1 for p in profiles if p.person)
        summary = (
            f"{len(profiles)} profile(s) ({identified} identified, {len(profiles) - identified} anonymous)"
        )
        if self.resolution.ambiguous:
            reason = (
                f"{summary} of {self.resolution.ambiguous} different people ({self.connector.person_type}s): "
                f"none deleted at {vendor}; give the {self.connector.person_type}"
            )
            return replace(verdict, outcome=Outcome.AMBIGUOUS, reason=reason)
        ids = self.erase[looked.identifier]
        kinds = ", ".join(sorted({str(i.type) for i in ids}))
        if request.dry_run:
            return replace(
                verdict, outcome=Outcome.WOULD_DELETE, reason=f"{summary}; would be erased by {kinds}"
            )
        if not ids:
            return replace(verdict, outcome=Outcome.TRANSIENT, reason=f"{summary} without an id to delete by")
        parts = [by_id[i].verdict for i in ids]
        waiting = [p for p in parts if not p.outcome.is_final]
        if waiting:
            reason = f"{len(waiting)} of {len(ids)} profile id(s) not yet erased: {waiting[0].reason}"
            return replace(waiting[0], reason=reason, evidence=verdict.evidence)
        refused = [p for p in parts if not p.outcome.is_success]
        if refused:
            reason = f"{len(refused)} of {len(ids)} profile id(s) {refused[0].outcome}: {refused[0].reason}"
            return replace(verdict, outcome=Outcome.REFUSED, reason=reason)
        return replace(verdict, outcome=Outcome.RESOLVED, reason=f"{summary}; erased by {kinds} ({len(ids)})")


def _without(ids: tuple[Identifier, ...], identifier: Identifier) -> tuple[Identifier, ...]:
    return tuple(i for i in ids if i != identifier)
