"""Every setting of every function, read once per cold start; a bad one fails naming itself.

The environment is set by template.yaml; secrets come from Secrets Manager through Powertools
parameters. Nothing else in the layer reads os.environ.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from erasure.errors import ConfigError

SecretReader = Callable[[str], Any]
# Of a vendor's documented per-minute limit, the share the relay's queue traffic may use.
RATE_HEADROOM = 0.9
SANDBOX_URL_VARIABLE = "VENDOR_SANDBOX_URL"


@dataclass(frozen=True)
class VendorSettings:
    base_url: str
    credentials: Mapping[str, str]
    concurrency: int
    rates: Mapping[str, float]  # operation key -> this invocation's calls a minute; 0: no limit
    connect_timeout: float
    read_timeout: float
    options: Mapping[str, Any] = field(default_factory=dict)  # Connector.options()
    verification: VerificationSettings | None = None  # None: not configured, nothing is checked
    written_within_s: float = 1.0  # after a call's answer: read, logged and written to the ledger

    @property
    def call_budget_s(self) -> float:
        """The longest one call can take, answer read and written: no call starts later than
        this before the function's deadline."""
        return self.connect_timeout + self.read_timeout + self.written_within_s


@dataclass(frozen=True)
class VerificationSettings:
    """When a vendor function looks a person up again after a deletion: the first check
    `after_s` later, each further one `backoff_s` later than the one before, doubling, at most
    `max_checks`; checks wait as messages in the vendor's own queue (`queue_url`)."""

    queue_url: str
    after_s: int
    backoff_s: int
    max_checks: int


MAX_CHECK_WAIT_S = 7 * 24 * 3600  # the longest a verification check may wait for its time

# A rotated credential is used within this many seconds, without a redeploy or a new container.
SECRET_MAX_AGE_S = 300


def read_json_secret(secret_id: str) -> Any:
    # Imported here: parameters pulls in boto3, which only the cold start should pay for.
    from aws_lambda_powertools.utilities.parameters import get_secret

    # Powertools caches the value for max_age seconds, so this is cheap to call per invocation.
    return get_secret(secret_id, transform="json", max_age=SECRET_MAX_AGE_S)


def load_hash_key(env: Mapping[str, str] = os.environ, read_secret: SecretReader = read_json_secret) -> bytes:
    fields = secret_fields(env, "HASH_KEY_SECRET_ID", ("key",), read_secret)
    key = fields["key"].encode()
    if len(key) < 32:
        raise ConfigError("the secret named by HASH_KEY_SECRET_ID: 'key' must be at least 32 characters")
    return key


@dataclass(frozen=True)
class LedgerSettings:
    """LEDGER_TABLE; LEDGER_TTL_DAYS (400) how long a request's items are kept; LEDGER_WRITERS (8)
    transactions in flight at once (1 against moto, which is not thread-safe);
    REQUEST_MAX_LIFETIME_DAYS (15): a request not final this long after it was made is abandoned
    (its messages are gone from every queue and dead-letter queue by then: 14 days), and its
    identifiers with it."""

    table_name: str
    ttl_days: int
    writers: int
    max_lifetime_days: float = 15

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LedgerSettings:
        name = env.get("LEDGER_TABLE", "").strip()
        if not name:
            raise ConfigError("LEDGER_TABLE is not set")
        raw = env.get("LEDGER_TTL_DAYS", "").strip() or "400"
        if not raw.isdigit() or int(raw) < 1:
            raise ConfigError("LEDGER_TTL_DAYS must be a whole number of days, at least 1")
        writers = number_setting(env, "LEDGER_WRITERS", 8, int)
        return cls(name, int(raw), writers, number_setting(env, "REQUEST_MAX_LIFETIME_DAYS", 15, float))


@dataclass(frozen=True)
class IntakeSettings:
    """The intake function's settings: the hash key, the ledger, and the vendor queues it fans
    out to (<VENDOR>_QUEUE_URL, for the vendors that have one)."""

    hash_key: bytes
    ledger: LedgerSettings
    queue_urls: Mapping[str, str]
    enrich_default: bool = False  # ENRICH_DEFAULT: a request without `enrich` takes this

    @classmethod
    def from_env(cls, vendors: list[str], env: Mapping[str, str] = os.environ) -> IntakeSettings:
        return cls(
            load_hash_key(env),
            LedgerSettings.from_env(env),
            vendor_queue_urls(vendors, env),
            flag_setting(env, "ENRICH_DEFAULT"),
        )


def vendor_queue_urls(vendors: list[str], env: Mapping[str, str]) -> dict[str, str]:
    """<VENDOR>_QUEUE_URL of each vendor that has one in this deployment."""
    urls = {vendor: env.get(f"{vendor.upper()}_QUEUE_URL", "").strip() for vendor in vendors}
    return {v: u for v, u in urls.items() if u}


def flag_setting(env: Mapping[str, str], variable: str) -> bool:
    """A true/false setting, false unless set."""
    raw = env.get(variable, "").strip().lower()
    if raw not in ("", "true", "false"):
        raise ConfigError(f"{variable} must be true or false")
    return raw == "true"


@dataclass(frozen=True)
class ReceiptsSettings:
    """The status and receipts functions' settings: the ledger, DEADLINE_MARGIN_DAYS (7), how
    long before its due_by a request not yet final raises the alarm."""

    ledger: LedgerSettings
    deadline_margin_days: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ReceiptsSettings:
        margin = number_setting(env, "DEADLINE_MARGIN_DAYS", 7, float, allow_zero=True)
        return cls(LedgerSettings.from_env(env), margin)


def url_from_env(env: Mapping[str, str], variable: str, default: str | None = None) -> str | None:
    """A base URL setting: scheme and host (and port), no trailing slash."""
    value = env.get(variable, "").strip() or default
    if value is None:
        return None
    if not re.fullmatch(r"https?://[^/\s]+/?", value):
        raise ConfigError(f"{variable} must be a base URL like https://host, got a malformed value")
    return value.rstrip("/")


def sandbox_url(env: Mapping[str, str]) -> str | None:
    """VENDOR_SANDBOX_URL: every vendor played by one local stand-in (tools/vendor_sandbox). Only
    a loopback address is taken, so that no setting can send a deployed stack's deletions (and
    credentials) anywhere but to the vendors."""
    url = url_from_env(env, SANDBOX_URL_VARIABLE)
    if url and not re.fullmatch(r"http://(127\.0\.0\.1|localhost)(:\d+)?", url):
        raise ConfigError(f"{SANDBOX_URL_VARIABLE} must be a loopback URL like http://127.0.0.1:8700")
    return url


def url_or_named_host(
    env: Mapping[str, str], url_variable: str, name_variable: str, hosts: Mapping[str, str], name: str
) -> str:
    """A base URL setting if given, else the documented host of a named instance or region."""
    url = url_from_env(env, url_variable)
    if url:
        return url
    by_name = {known.lower(): host for known, host in hosts.items()}
    if name.lower() not in by_name:
        raise ConfigError(f"{name_variable} must be one of {', '.join(hosts)} (or set {url_variable})")
    return f"https://{by_name[name.lower()]}"


def secret_fields(
    env: Mapping[str, str], variable: str, fields: tuple[str, ...], read_secret: SecretReader
) -> dict[str, str]:
    secret_id = env.get(variable, "").strip()
    if not secret_id:
        raise ConfigError(f"{variable} is not set")
    try:
        value = read_secret(secret_id)
    except Exception as error:  # any failure to fetch or decode is a configuration error
        raise ConfigError(
            f"the secret named by {variable} could not be read ({type(error).__name__})"
        ) from None
    if not isinstance(value, dict):
        raise ConfigError(f"the secret named by {variable} must be a JSON object")
    missing = [f for f in fields if not isinstance(value.get(f), str) or not value[f].strip()]
    if missing:
        raise ConfigError(f"the secret named by {variable} lacks non-empty field(s): {', '.join(missing)}")
    return {f: value[f].strip() for f in fields}


def number_setting(
    env: Mapping[str, str], variable: str, default: float, kind: type, allow_zero: bool = False
) -> Any:
    raw = env.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{variable} must be a number") from None
    if value < 0 or (value == 0 and not allow_zero) or value != value:
        raise ConfigError(f"{variable} must be greater than 0")
    return value
