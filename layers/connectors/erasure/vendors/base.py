"""What every vendor connector says about itself; the relay does everything else once."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeGuard

from erasure.config import (
    RATE_HEADROOM,
    ConfigError,
    VendorSettings,
    sandbox_url,
    url_from_env,
    url_or_named_host,
)
from erasure.http_client import HttpAnswer, HttpRequest
from erasure.outcomes import Profile, Verdict
from erasure.request import Action, DeletionRequest, Identifier, IdentifierType


@dataclass(frozen=True)
class Target:
    """One identifier of one deletion request, bound for one vendor."""

    request: DeletionRequest
    identifier: Identifier
    resolving: bool = False  # a lookup made to find the identifier's profiles, not to verify


class Call(ABC):
    """One documented vendor call: the identifiers it serves, how many go in one call, its rate
    limit, the request it sends and how its answer reads."""

    key: ClassVar[str]  # names its settings: <VENDOR>_<KEY>_LIMIT_PER_MINUTE, ..._RATE_SHARE
    name: ClassVar[str]  # for logs and metrics: "METHOD /path"
    serves: ClassVar[frozenset[IdentifierType]]
    max_batch: ClassVar[int]  # identifiers per call, as documented
    requests_per_minute: ClassVar[int] = 0  # the documented limit; 0: none (or a concurrency limit)
    rate_share: ClassVar[float] = RATE_HEADROOM  # of that limit, what the relay may use
    max_body_bytes: ClassVar[int | None] = None  # a documented request size cap
    # One call carries one person's identifiers: never shared by people, never split.
    per_person: ClassVar[bool] = False

    def batch_group(self, target: Target) -> Hashable:
        """Targets in different groups never share a call."""
        return target.request.request_id if self.per_person else target.identifier.type

    def max_batch_for(self, group: Hashable) -> int:
        """Identifiers of this group per call (some calls take a list of one type, one of another)."""
        return self.max_batch

    @abstractmethod
    def build(self, targets: list[Target], settings: VendorSettings) -> HttpRequest:
        """The documented request for these targets (at most max_batch, one group)."""

    @abstractmethod
    def read(self, answer: HttpAnswer, targets: list[Target]) -> list[Verdict]:
        """One verdict per target, in order."""


class Operation(Call):
    """A deletion call: it serves one action; its verdicts are Outcomes."""

    action: ClassVar[Action]


class Lookup(Call):
    """The vendor's documented read of a person by identifier, after a deletion: its verdicts are
    Verifications (verified_absent, still_present, unverifiable), or a retryable Outcome."""

    # The actions whose result a lookup can show; for the others, why it cannot.
    verifies: ClassVar[frozenset[Action]] = frozenset(Action)
    cannot_verify: ClassVar[str] = ""
    # Identity resolution: the types whose profiles are always found first when a profile is
    # deleted (the vendor's delete does not take them, or not exactly); the other types it
    # serves are looked up only to enrich a request, or in a dry run.
    resolves: ClassVar[frozenset[IdentifierType]] = frozenset()


class Connector:
    """A vendor: its host and credentials, and the operations it offers (one per action)."""

    name: ClassVar[str]
    operations: ClassVar[tuple[Operation, ...]]
    credential_fields: ClassVar[tuple[str, ...]]
    url_variable: ClassVar[str]  # the setting that gives the base URL (https://host)
    default_url: ClassVar[str | None] = None
    host_variable: ClassVar[str | None] = None  # or the setting naming an instance among `hosts`
    hosts: ClassVar[Mapping[str, str]] = {}
    default_concurrency: ClassVar[int] = 4  # calls in flight at once within one invocation
    # Invocations at once: the queue's ScalingConfig.MaximumConcurrency, and the function's
    # ReservedConcurrentExecutions, which leaves `api_concurrency` more for its API route (a test
    # holds template.yaml to both). Each invocation paces itself to its share of every rate
    # limit, so no mix of queue and API traffic can exceed one.
    queue_concurrency: ClassVar[int] = 2
    api_concurrency: ClassVar[int] = 1
    # Verification: the read API that shows whether a person is gone, and how long after a
    # deletion the vendor's documented consistency lets it show that; or why nothing can.
    lookup: ClassVar[Lookup | None] = None
    verify_after_s: ClassVar[int] = 300
    no_lookup_reason: ClassVar[str] = ""
    # Whose a found profile is: identified profiles of two people never fall in one erasure.
    person_type: ClassVar[IdentifierType] = IdentifierType.EXTERNAL_ID

    @property
    def calls(self) -> tuple[Call, ...]:
        """Every call this vendor makes, each with its own rate limit."""
        return (*self.operations, self.lookup) if self.lookup else self.operations

    def unverifiable_reason(self, action: Action, identifier: Identifier) -> str | None:
        """Why no lookup can check this action's result for this identifier, or None when the
        vendor's can."""
        if self.lookup is None:
            return self.no_lookup_reason or f"{self.name} has no lookup by identifier"
        if action not in self.lookup.verifies:
            return self.lookup.cannot_verify or f"{self.name}'s lookup cannot show {action}"
        if identifier.type not in self.lookup.serves:
            return f"{self.name}'s lookup does not take {identifier.type}"
        return None

    @property
    def max_invocations(self) -> int:
        return self.queue_concurrency + self.api_concurrency

    def operation_for(self, action: Action) -> Operation | None:
        return next((op for op in self.operations if op.action is action), None)

    @property
    def serves(self) -> dict[Action, frozenset[IdentifierType]]:
        return {op.action: op.serves for op in self.operations}

    def skip_reason(self, action: Action, identifier: Identifier) -> str | None:
        """Why this vendor does not serve (action, identifier), or None when it does (directly,
        or through the profiles its lookup finds)."""
        operation = self.operation_for(action)
        if operation is None:
            return f"{self.name} does not serve action {action}"
        if identifier.type not in operation.serves and not self.resolves(action, identifier):
            # What would have worked: an id another vendor's lookup may know (enrichment).
            takes = sorted(
                t for t in IdentifierType if t in operation.serves or self.resolves(action, Identifier(t, ""))
            )
            return f"{self.name} does not serve {identifier.type} for {action}; it takes {', '.join(takes)}"
        return None

    def resolves(self, action: Action, identifier: Identifier) -> bool:
        """Whether this identifier's profiles are always found before they are deleted."""
        return (
            action is Action.DELETE_PROFILE
            and self.lookup is not None
            and identifier.type in self.lookup.resolves
        )

    def can_look_up(self, action: Action, identifier: Identifier) -> bool:
        """Whether a lookup can resolve this identifier (to enrich, or in a dry run)."""
        return (
            action is Action.DELETE_PROFILE
            and self.lookup is not None
            and identifier.type in self.lookup.serves
        )

    def erase_by(self, profile: Profile) -> tuple[Identifier, ...]:
        """The ids a found profile is deleted by: by default every one the delete takes."""
        operation = self.operation_for(Action.DELETE_PROFILE)
        return tuple(i for i in profile.identifiers if operation and i.type in operation.serves)

    @property
    def secret_variable(self) -> str:
        """The setting naming the Secrets Manager secret that holds `credential_fields`."""
        return f"{self.name.upper()}_SECRET_ID"

    def base_url(self, env: Mapping[str, str]) -> str:
        """The vendor's base URL: the local sandbox's if one is set, else `url_variable` if set,
        else the documented host of the instance or region `host_variable` names, else
        `default_url`; ConfigError names a bad setting."""
        local = sandbox_url(env)
        if local:
            return local
        if self.host_variable:
            name = env.get(self.host_variable, "").strip()
            return url_or_named_host(env, self.url_variable, self.host_variable, self.hosts, name)
        url = url_from_env(env, self.url_variable, self.default_url)
        if url is None:
            raise ConfigError(f"{self.url_variable} is not set")
        return url

    def options(self, env: Mapping[str, str]) -> Mapping[str, Any]:
        """Settings particular to this vendor, read once per cold start; ConfigError if bad."""
        return {}


def token_pattern(value: str) -> re.Pattern[str]:
    """`value` as a whole token: not inside a longer word or id (so "1" is not found in "12")."""
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])", re.IGNORECASE)


def mentions(text: str, value: str) -> bool:
    return value.lower() in text.lower() and bool(token_pattern(value).search(text))


def is_text(value: object) -> TypeGuard[str]:
    """A value a vendor's answer gives as an identifier: text, not blank."""
    return isinstance(value, str) and bool(value.strip())


def error_text(body: object) -> str:
    """The human part of a vendor's error body, whatever envelope it uses."""
    if isinstance(body, dict):
        for key in ("error", "message", "errors"):
            value = body.get(key)
            if value:
                return value if isinstance(value, str) else str(value)
    return ""
