"""Settings read once per cold start: the sandbox override can only ever point at a loopback."""

import pytest

import erasure.config
from erasure.config import IntakeSettings, flag_setting
from erasure.errors import ConfigError
from erasure.vendors import CONNECTORS
from erasure.vendors.settings import verification_settings


@pytest.mark.parametrize("vendor", list(CONNECTORS))
def test_the_sandbox_url_replaces_every_vendors_host(vendor):
    env = {
        "VENDOR_SANDBOX_URL": "http://127.0.0.1:8700",
        CONNECTORS[vendor].url_variable: "https://x.example",
    }
    assert CONNECTORS[vendor].base_url(env) == "http://127.0.0.1:8700"


@pytest.mark.parametrize(
    "url",
    ["https://127.0.0.1:8700", "http://evil.example", "http://127.0.0.1.evil.example", "http://10.0.0.1"],
)
def test_a_sandbox_url_that_is_not_loopback_is_refused(url):
    with pytest.raises(ConfigError, match="VENDOR_SANDBOX_URL must be a loopback URL"):
        CONNECTORS["braze"].base_url({"VENDOR_SANDBOX_URL": url})


def test_without_the_sandbox_url_the_documented_host_is_used():
    assert CONNECTORS["dfinery"].base_url({"VENDOR_SANDBOX_URL": ""}) == "https://openapi.dfinery.ai"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"VERIFY_AFTER_S": str(8 * 86400)}, "VERIFY_AFTER_S"),
        ({"VERIFY_BACKOFF_S": "86400", "VERIFY_MAX_CHECKS": "5"}, "VERIFY_BACKOFF_S"),  # 1, 2, 4, 8 days
        ({"VERIFY_MAX_CHECKS": "0"}, "VERIFY_MAX_CHECKS"),
    ],
)
def test_a_verification_that_would_outwait_its_queue_is_refused_naming_the_setting(env, named):
    with pytest.raises(ConfigError, match=named):
        verification_settings(CONNECTORS["clevertap"], {"VERIFY_QUEUE_URL": "https://queue", **env})


def test_verification_defaults_are_each_vendors_documented_delay():
    settings = verification_settings(CONNECTORS["clevertap"], {"VERIFY_QUEUE_URL": "https://queue"})
    assert (settings.after_s, settings.backoff_s, settings.max_checks) == (48 * 3600, 900, 3)
    assert verification_settings(CONNECTORS["clevertap"], {}) is None  # no queue: nothing is checked


# -- ENRICH_DEFAULT: what a request that does not say `enrich` takes, read at intake's cold start ---


def intake_settings(monkeypatch, **env):
    monkeypatch.setattr(erasure.config, "load_hash_key", lambda _env: b"k" * 32)
    return IntakeSettings.from_env(list(CONNECTORS), {"LEDGER_TABLE": "ledger", **env})


@pytest.mark.parametrize("value", ["yes", "no", "1", "0", "on", "tru", "true false", "null"])
def test_an_enrich_default_that_is_not_true_or_false_is_refused_naming_it(monkeypatch, value):
    with pytest.raises(ConfigError) as refused:
        intake_settings(monkeypatch, ENRICH_DEFAULT=value)
    assert str(refused.value) == "ENRICH_DEFAULT must be true or false"
    with pytest.raises(ConfigError, match=r"^ENRICH_DEFAULT must be true or false$"):
        flag_setting({"ENRICH_DEFAULT": value}, "ENRICH_DEFAULT")


@pytest.mark.parametrize(
    ("env", "enrich_default"),
    [
        ({}, False),
        ({"ENRICH_DEFAULT": ""}, False),
        ({"ENRICH_DEFAULT": "false"}, False),
        ({"ENRICH_DEFAULT": "FALSE"}, False),
        ({"ENRICH_DEFAULT": "true"}, True),
        ({"ENRICH_DEFAULT": "TRUE"}, True),
        ({"ENRICH_DEFAULT": " True "}, True),
    ],
)
def test_enrich_default_is_false_unless_set_true(monkeypatch, env, enrich_default):
    assert intake_settings(monkeypatch, **env).enrich_default is enrich_default
    assert flag_setting(env, "ENRICH_DEFAULT") is enrich_default
