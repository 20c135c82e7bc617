"""Settings read once per cold start: the sandbox override can only ever point at a loopback."""

import pytest

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
