"""A vendor function's settings, read once per cold start from its environment and secrets:
where the vendor is, its credentials, how fast each call may go, and verification. Here, not in
erasure.config, because they are read through the connector (erasure.config knows no vendor)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from erasure.config import (
    MAX_CHECK_WAIT_S,
    ConfigError,
    LedgerSettings,
    SecretReader,
    VendorSettings,
    VerificationSettings,
    load_hash_key,
    number_setting,
    read_json_secret,
    secret_fields,
    vendor_queue_urls,
)
from erasure.vendors.base import Call, Connector


@dataclass(frozen=True)
class VendorFunctionSettings:
    """A vendor function's settings, read once at cold start: the hash key, the vendor's, and the
    ledger's (None without LEDGER_TABLE: a function used on its own only logs and answers)."""

    hash_key: bytes
    vendor: VendorSettings
    ledger: LedgerSettings | None
    # Where enrichment carries what this vendor's lookups learn: every vendor queue (this one too).
    queue_urls: Mapping[str, str]

    @classmethod
    def from_env(cls, connector: Connector, env: Mapping[str, str] = os.environ) -> VendorFunctionSettings:
        from erasure.vendors import CONNECTORS  # the registry imports this module's neighbours

        ledger = LedgerSettings.from_env(env) if env.get("LEDGER_TABLE", "").strip() else None
        queues = vendor_queue_urls(list(CONNECTORS), env)
        return cls(load_hash_key(env), load_vendor_settings(connector, env), ledger, queues)


def vendor_credentials(
    connector: Connector, env: Mapping[str, str] = os.environ, read_secret: SecretReader = read_json_secret
) -> dict[str, str]:
    """The connector's credentials, from the secret its <VENDOR>_SECRET_ID names."""
    return secret_fields(env, connector.secret_variable, connector.credential_fields, read_secret)


def load_vendor_settings(
    connector: Connector, env: Mapping[str, str] = os.environ, read_secret: SecretReader = read_json_secret
) -> VendorSettings:
    prefix = connector.name.upper()
    return VendorSettings(
        base_url=connector.base_url(env),
        credentials=vendor_credentials(connector, env, read_secret),
        concurrency=number_setting(env, f"{prefix}_CONCURRENCY", connector.default_concurrency, int),
        rates={call.key: invocation_rate(connector, call, env) for call in connector.calls},
        connect_timeout=number_setting(env, "HTTP_CONNECT_TIMEOUT", 3.05, float),
        read_timeout=number_setting(env, "HTTP_READ_TIMEOUT", 10.0, float),
        options=connector.options(env),
        verification=verification_settings(connector, env),
    )


def verification_settings(connector: Connector, env: Mapping[str, str]) -> VerificationSettings | None:
    """VERIFY_QUEUE_URL (the function's own queue; unset: no verification), the first check's
    delay VERIFY_AFTER_S (each vendor function's own; default: the vendor's documented
    consistency), VERIFY_BACKOFF_S (900) and VERIFY_MAX_CHECKS (3)."""
    queue_url = env.get("VERIFY_QUEUE_URL", "").strip()
    if not queue_url:
        return None
    after = "VERIFY_AFTER_S"
    settings = VerificationSettings(
        queue_url=queue_url,
        after_s=number_setting(env, after, connector.verify_after_s, int, allow_zero=True),
        backoff_s=number_setting(env, "VERIFY_BACKOFF_S", 900, int, allow_zero=True),
        max_checks=number_setting(env, "VERIFY_MAX_CHECKS", 3, int),
    )
    # A check waits in its message, hidden 12 h a receive: past a week it would reach the
    # queue's maxReceiveCount (20) before it is due.
    if settings.after_s > MAX_CHECK_WAIT_S:
        raise ConfigError(f"{after} must be at most {MAX_CHECK_WAIT_S} (a week)")
    if settings.backoff_s * 2 ** max(0, settings.max_checks - 2) > MAX_CHECK_WAIT_S:
        raise ConfigError(
            f"VERIFY_BACKOFF_S, doubled for each of VERIFY_MAX_CHECKS, must stay within {MAX_CHECK_WAIT_S}"
        )
    return settings


def invocation_rate(connector: Connector, operation: Call, env: Mapping[str, str] = os.environ) -> float:
    """One invocation's calls a minute for an operation: the vendor's limit for the account
    (<VENDOR>_<OP>_LIMIT_PER_MINUTE, default the documented one) times the share the relay may
    use (<VENDOR>_<OP>_RATE_SHARE), split between the most invocations that can run at once,
    from the queue and the API route together (the function's reserved concurrency)."""
    prefix = f"{connector.name}_{operation.key}".upper()
    limit = number_setting(
        env, f"{prefix}_LIMIT_PER_MINUTE", operation.requests_per_minute, float, allow_zero=True
    )
    share = number_setting(env, f"{prefix}_RATE_SHARE", operation.rate_share, float)
    if share > 1:
        raise ConfigError(f"{prefix}_RATE_SHARE must be a fraction of the limit, at most 1")
    return limit * share / connector.max_invocations
