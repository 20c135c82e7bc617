"""Run a SAM template's Python functions locally without Docker or an AWS account.

A stand-in for `sam local invoke` / `sam local start-api` (plus SQS event source mappings) that
runs each function in a plain Python process and points boto3 at a local moto server:

    python -m tools.sam_local invoke <Function> -e events/<function>-sqs.json [--env-vars env.json]
    python -m tools.sam_local start [--port 3000] [--env-vars env.json] [--secrets secrets.json]
    python -m tools.sam_local generate-event <Function> sqs|api|stream|schedule [-b body.json]
    python -m tools.sam_local generate-event --all -b events/requests/jane.json   # events/ (make events)

Or in-process (tests, demos):

    with LocalRuntime("template.yaml") as runtime:   # starts moto, creates the template's resources
        runtime.invoke("EchoFunction", {"hello": "world"})
        url = runtime.serve_api()                     # API Gateway (REST, proxy) on 127.0.0.1
        runtime.start_event_sources()                 # SQS -> Lambda pollers

Or with the handlers and AWS in the caller's own process (tests: tests/helpers.py), the same
provisioning, environments and SQS delivery steps (in_process.py):

    stack = InProcessStack("template.yaml")          # inside moto.mock_aws()
    stack.provision()
    delivery = stack.sqs_delivery("WorkerFunction", invoke)
    delivery.deliver(delivery.receive())             # one poll: receive, invoke, delete

Local AWS_IAM auth: a route whose authorizer is AWS_IAM verifies the request's SigV4 signature as
API Gateway does (service execute-api, the stack's region, the headers the caller signed, the
query and the body; botocore recomputes it), against the key pairs the local stack knows
(sigv4.KNOWN_CALLERS): the operator's LOCAL_CALLER, AKIALOCALDEMO0000000 /
local-demo-secret (tools/demo.py, `python -m tools.erasure_cli --local`), and the stack's own
FAKE_CREDENTIALS. The caller is reported as requestContext.identity: accessKey/caller/user = the
access key id, accountId = 123456789012, userArn = arn:aws:iam::123456789012:user/<access key id>.
Otherwise it answers API Gateway's 403s, with their x-amzn-ErrorType: "Missing Authentication
Token" (unsigned, or no such resource or method, signed or not), "... not a valid key=value pair
(missing equal-sign) in Authorization header ..." (not a SigV4 header), "The security token
included in the request is invalid." (unknown access key), "Signature expired: ..." (X-Amz-Date
more than 5 minutes away), "The request signature we calculated does not match ..." (with the
canonical request and string to sign it expected).
"""

from tools.sam_local.in_process import InProcessStack
from tools.sam_local.runtime import LocalRuntime
from tools.sam_local.sqs import sqs_record
from tools.sam_local.template import Stack, load_template, merge_globals

__all__ = ["InProcessStack", "LocalRuntime", "Stack", "load_template", "merge_globals", "sqs_record"]
