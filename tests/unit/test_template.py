"""template.yaml and the registered connectors say the same things about each vendor."""

import pytest

from erasure.vendors import CONNECTORS
from tests.helpers import ROOT
from tools.sam_local import load_template

RESOURCES = load_template(ROOT / "template.yaml")["Resources"]


def resource(vendor: str, kind: str) -> dict:
    """<Class><Kind> in the template, e.g. CleverTapFunction for the clevertap connector."""
    return RESOURCES[f"{type(CONNECTORS[vendor]).__name__}{kind}"]["Properties"]


@pytest.mark.parametrize("vendor", list(CONNECTORS))
def test_each_vendor_has_its_function_queue_dead_letters_secret_and_alarm(vendor):
    function = resource(vendor, "Function")
    assert function["CodeUri"] == f"functions/{vendor}/"
    queue_event = function["Events"]["Queue"]["Properties"]
    # Queue and API together run at most as many invocations as the connector paces its share for.
    assert queue_event["ScalingConfig"]["MaximumConcurrency"] == CONNECTORS[vendor].queue_concurrency
    assert function["ReservedConcurrentExecutions"] == CONNECTORS[vendor].max_invocations
    assert function["Environment"]["Variables"][f"{vendor.upper()}_SECRET_ID"]
    assert function["Events"]["Api"]["Properties"]["Path"] == f"/v1/vendors/{vendor}/deletions"
    assert resource(vendor, "Queue")["RedrivePolicy"]["maxReceiveCount"] == 20
    assert resource(vendor, "DeadLetterAlarm")["Threshold"] == 0
    assert "SecretString" in resource(vendor, "Credentials")
    intake = RESOURCES["IntakeFunction"]["Properties"]["Environment"]["Variables"]
    assert f"{vendor.upper()}_QUEUE_URL" in intake


def test_personal_data_and_credentials_are_under_the_relays_own_key():
    """checkov passes in CI (make template); this says why in the relay's terms: every store of
    identifiers or credentials names RelayKey, and every function may use it only through them."""
    key = {"Ref": "RelayKey"}
    for name, item in RESOURCES.items():
        kind, properties = item["Type"], item.get("Properties", {})
        if kind == "AWS::SQS::Queue":
            assert properties["KmsMasterKeyId"] == key, name
        elif kind == "AWS::SecretsManager::Secret":
            assert properties["KmsKeyId"] == key, name
        elif kind == "AWS::DynamoDB::Table":
            assert properties["SSESpecification"]["KMSMasterKeyId"] == key, name
        elif kind == "AWS::Serverless::Function":
            assert {"Ref": "RelayKeyUse"} in properties["Policies"], name


def test_every_checkov_skip_says_why():
    skips = [
        (name, skip)
        for name, item in RESOURCES.items()
        for skip in item.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    assert [(name, skip["id"]) for name, skip in skips if len(skip.get("comment", "")) < 40] == []
