"""The local stack's secrets: each vendor's credentials as a new vendor sandbox expects them.

A vendor's secret is found through its function's `<VENDOR>_SECRET_ID` setting in the template,
so a new vendor needs no entry here. `tools/secrets.local.json` ({SecretLogicalId: value},
git-ignored), when present, is used instead: for trying real credentials locally.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from erasure.vendors import CONNECTORS
from tools.sam_local.functions import function_specs
from tools.sam_local.template import Stack
from tools.vendor_sandbox import default_credentials

LOCAL_SECRETS_FILE = Path(__file__).resolve().parent / "secrets.local.json"


def local_secrets(stack: Stack) -> dict[str, Any]:
    """{SecretLogicalId: value}: tools/secrets.local.json if present, else the sandbox's."""
    if LOCAL_SECRETS_FILE.exists():
        return json.loads(LOCAL_SECRETS_FILE.read_text(encoding="utf-8"))
    return sandbox_secrets(stack)


def sandbox_secrets(stack: Stack) -> dict[str, dict[str, str]]:
    secrets = {}
    for spec in function_specs(stack).values():
        for connector in CONNECTORS.values():
            reference = spec.variables.get(connector.secret_variable)
            if isinstance(reference, dict) and "Ref" in reference:
                credentials = default_credentials(connector.name, connector.credential_fields)
                secrets[reference["Ref"]] = credentials
    return secrets
