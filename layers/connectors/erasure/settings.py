"""Environment and secrets, read once per cold start; a bad setting fails naming itself."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from erasure.vendors.base import ConfigError, Connector

SecretReader = Callable[[str], Any]


@dataclass(frozen=True)
class VendorSettings:
    base_url: str
    credentials: Mapping[str, str]
    concurrency: int
    requests_per_minute: float  # this invocation's share; 0 means no per-minute limit
    connect_timeout: float
    read_timeout: float


def read_json_secret(secret_id: str) -> Any:
    # Imported here: parameters pulls in boto3, which only the cold start should pay for.
    from aws_lambda_powertools.utilities.parameters import get_secret

    return get_secret(secret_id, transform="json")


def load_vendor_settings(
    connector: Connector, env: Mapping[str, str] = os.environ, read_secret: SecretReader = read_json_secret
) -> VendorSettings:
    prefix = connector.name.upper()
    credentials = _secret_fields(env, f"{prefix}_SECRET_ID", connector.credential_fields, read_secret)
    return VendorSettings(
        base_url=connector.base_url(env),
        credentials=credentials,
        concurrency=_number(env, f"{prefix}_CONCURRENCY", connector.default_concurrency, int),
        requests_per_minute=_number(
            env, f"{prefix}_REQUESTS_PER_MINUTE", connector.requests_per_minute, float, allow_zero=True
        ),
        connect_timeout=_number(env, "HTTP_CONNECT_TIMEOUT", 3.05, float),
        read_timeout=_number(env, "HTTP_READ_TIMEOUT", 10.0, float),
    )


def load_hash_key(env: Mapping[str, str] = os.environ, read_secret: SecretReader = read_json_secret) -> bytes:
    fields = _secret_fields(env, "HASH_KEY_SECRET_ID", ("key",), read_secret)
    key = fields["key"].encode()
    if len(key) < 32:
        raise ConfigError("the secret named by HASH_KEY_SECRET_ID: 'key' must be at least 32 characters")
    return key


def _secret_fields(
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


def _number(
    env: Mapping[str, str], variable: str, default: float, kind: type, allow_zero: bool = False
) -> Any:
    raw = env.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{variable} must be a number") from None
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{variable} must be greater than 0")
    return value
