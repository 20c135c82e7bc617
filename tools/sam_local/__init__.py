"""Run a SAM template's Python functions locally without Docker or an AWS account.

A stand-in for `sam local invoke` / `sam local start-api` (plus SQS event source mappings) that
runs each function in a plain Python process and points boto3 at a local moto server:

    python -m tools.sam_local invoke EchoFunction -e events/echo.json [--env-vars env.json]
    python -m tools.sam_local start [--port 3000] [--env-vars env.json] [--secrets secrets.json]

Or in-process (tests, demos):

    with LocalRuntime("template.yaml") as runtime:   # starts moto, creates the template's resources
        runtime.invoke("EchoFunction", {"hello": "world"})
        url = runtime.serve_api()                     # API Gateway (REST, proxy) on 127.0.0.1
        runtime.start_event_sources()                 # SQS -> Lambda pollers

Local AWS_IAM auth: a route whose authorizer is AWS_IAM accepts any request whose Authorization
header starts with `AWS4-HMAC-SHA256` (the signature is NOT verified) and reports the access key id
of its `Credential=` as the caller: requestContext.identity gets accessKey/caller/user = that key,
accountId = 123456789012 and userArn = arn:aws:iam::123456789012:user/<access key id>. Any other
request gets API Gateway's 403 {"message": "Missing Authentication Token"}.
"""

from tools.sam_local.runtime import LocalRuntime
from tools.sam_local.sqs import sqs_record
from tools.sam_local.template import Stack, load_template, merge_globals

__all__ = ["LocalRuntime", "Stack", "load_template", "merge_globals", "sqs_record"]
