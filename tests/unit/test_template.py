"""template.yaml and the registered connectors say the same things about each vendor."""

import pytest

from erasure.handlers.receipts import NEAR_DEADLINE_METRIC
from erasure.ledger import DEADLINE_INDEX, DEADLINE_WATCH
from erasure.ledger.table import LIST_INDEX, LISTED
from erasure.vendors import CONNECTORS
from erasure.verification import STILL_PRESENT_METRIC
from tests.helpers import ROOT
from tools.sam_local import load_template

TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES, PARAMETERS = TEMPLATE["Resources"], TEMPLATE["Parameters"]
GLOBAL_VARIABLES = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]


def sends_to(function: dict) -> list:
    """The queues a function's policies let it send to with sqs:SendMessage alone."""
    return [
        statement["Resource"]
        for policy in function["Policies"]
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
        if statement["Action"] == "sqs:SendMessage"
    ]


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
    # Every function is told every vendor queue: intake fans out to them, and a vendor function
    # carries what its lookups learn to them.
    assert GLOBAL_VARIABLES[f"{vendor.upper()}_QUEUE_URL"] == {
        "Ref": f"{type(CONNECTORS[vendor]).__name__}Queue"
    }
    if CONNECTORS[vendor].lookup is not None:
        assert sends_to(function) == sends_to(RESOURCES["IntakeFunction"]["Properties"])


@pytest.mark.parametrize("vendor", list(CONNECTORS))
def test_a_vendor_with_a_lookup_checks_through_its_own_queue_after_its_documented_delay(vendor):
    connector, function = CONNECTORS[vendor], resource(vendor, "Function")
    variables = function["Environment"]["Variables"]
    name = type(connector).__name__
    if connector.lookup is None:
        assert "VERIFY_QUEUE_URL" not in variables
        return
    assert variables["VERIFY_QUEUE_URL"] == {"Ref": f"{name}Queue"}
    delay = variables["VERIFY_AFTER_S"]
    assert PARAMETERS[delay["Ref"]]["Default"] == connector.verify_after_s
    queue_statement = next(
        s
        for p in function["Policies"]
        if isinstance(p, dict) and "Statement" in p
        for s in p["Statement"]
        if s["Resource"] == {"Fn::GetAtt": [f"{name}Queue", "Arn"]}
    )
    assert "sqs:SendMessage" in queue_statement["Action"]


def test_the_receipts_function_reads_the_ledgers_stream_and_watches_deadlines():
    function = RESOURCES["ReceiptsFunction"]["Properties"]
    stream = function["Events"]["LedgerChanges"]["Properties"]
    assert stream["Stream"] == {"Fn::GetAtt": ["LedgerTable", "StreamArn"]}
    assert stream["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["ReceiptsDeadLetterQueue", "Arn"]
    }
    assert function["Events"]["DeadlineWatch"]["Properties"]["Schedule"] == "rate(1 hour)"
    table = RESOURCES["LedgerTable"]["Properties"]
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert [k["AttributeName"] for k in indexes[DEADLINE_INDEX]["KeySchema"]] == [DEADLINE_WATCH, "due_by"]
    # The list's index, by creation: it projects what a summary shows, and never an identifier hash.
    listing = indexes[LIST_INDEX]
    assert [k["AttributeName"] for k in listing["KeySchema"]] == [LISTED, "created_at"]
    assert not {"identifiers", "id_hash", "identifiers_skipped"} & set(
        listing["Projection"]["NonKeyAttributes"]
    )
    for alarm, metric in (
        ("StillPresentAlarm", STILL_PRESENT_METRIC),
        ("DeadlineAlarm", NEAR_DEADLINE_METRIC),
    ):
        properties = RESOURCES[alarm]["Properties"]
        assert (properties["MetricName"], properties["Dimensions"][0]["Name"]) == (metric, "service")


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


@pytest.mark.parametrize("vendor", list(CONNECTORS))
def test_no_verification_values_the_template_allows_fail_the_cold_start(vendor):
    from erasure.vendors.settings import verification_settings

    highest = {
        "VERIFY_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
        "VERIFY_BACKOFF_S": str(PARAMETERS["VerifyBackoffSeconds"]["MaxValue"]),
        "VERIFY_MAX_CHECKS": str(PARAMETERS["VerifyMaxChecks"]["MaxValue"]),
    }
    assert verification_settings(CONNECTORS[vendor], highest) is not None  # no ConfigError


def test_the_dashboard_shows_every_outcome_dead_letter_queue_function_and_the_alarmed_figures():
    import json
    import re

    from erasure.handlers.receipts import TIME_TO_FINAL_METRIC
    from erasure.outcomes import Outcome

    dashboard = RESOURCES["RelayDashboard"]["Properties"]
    text = dashboard["DashboardBody"]["Fn::Sub"]
    referenced = set(re.findall(r"\$\{([A-Za-z]+)(?:\.QueueName)?\}", text)) - {"AWS"}
    body = json.loads(re.sub(r"\$\{[^}]+\}", "x", text))  # valid JSON once CloudFormation fills it
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert len(titles) == 8 and all(w["properties"]["region"] == "x" for w in body["widgets"])
    shown = json.dumps(body)
    # Every outcome a vendor function counts (skipped and the dry run's findings aside, on the
    # outcomes widget or the retries one), and the figures the alarms watch.
    for outcome in set(Outcome) - {Outcome.WOULD_DELETE, Outcome.NOT_FOUND, Outcome.NO_LOOKUP}:
        assert f'MetricName=\\"{outcome}\\"' in shown, outcome
    for metric in (STILL_PRESENT_METRIC, NEAR_DEADLINE_METRIC, "requests_overdue", TIME_TO_FINAL_METRIC):
        assert f'"{metric}"' in shown, metric
    queues = {name for name, r in RESOURCES.items() if name.endswith("DeadLetterQueue")}
    functions = {name for name, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}
    assert queues | functions <= referenced and referenced <= set(RESOURCES)


def test_every_function_logs_to_its_own_group_kept_for_the_set_days_under_the_relays_key():
    prefix = "/erasure-relay/${AWS::StackName}/"
    functions = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}
    groups = {name: r["Properties"] for name, r in RESOURCES.items() if r["Type"] == "AWS::Logs::LogGroup"}
    assert len(groups) == len(functions) + 1  # and the API's access logs
    for name, function in functions.items():
        (group,) = function["Properties"]["LoggingConfig"]["LogGroup"].values()
        properties = groups[group]
        assert properties["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    for name, properties in groups.items():
        assert properties["KmsKeyId"] == {"Fn::GetAtt": ["RelayKey", "Arn"]}, name
        assert properties["LogGroupName"]["Fn::Sub"].startswith(prefix), name
    # The key lets CloudWatch Logs use it for these groups only, and no longer than the ledger.
    (logs,) = [
        s
        for s in RESOURCES["RelayKey"]["Properties"]["KeyPolicy"]["Statement"]
        if "Service" in s["Principal"]
    ]
    arn = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]["Fn::Sub"]
    assert arn.endswith(f"log-group:{prefix}*")
    assert PARAMETERS["LogRetentionDays"]["Default"] <= PARAMETERS["LedgerTtlDays"]["Default"]
