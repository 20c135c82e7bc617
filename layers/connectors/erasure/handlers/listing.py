"""GET /v1/deletions: the list's query string read into a filter, every bad parameter named."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from erasure.errors import FieldError, InvalidRequest
from erasure.ledger.listing import DEFAULT_LIMIT, MAX_LIMIT, ListFilter
from erasure.outcomes import Outcome
from erasure.receipt import RequestStatus, RequestVerification
from erasure.times import instant, utc_timestamp

_VENDOR = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
CHOICES = {
    "status": [s.value for s in RequestStatus],
    "verification": [v.value for v in RequestVerification],
    "outcome": [o.value for o in Outcome],
}
TIMES = ("due_before", "created_after", "created_before")
KNOWN = {"limit", "next_token", "final", "vendor", *CHOICES, *TIMES}


def list_query(params: Mapping[str, str] | None) -> tuple[ListFilter, int, str | None]:
    """(the filter, the page size, the token) of a list's query string; InvalidRequest naming
    every bad parameter (never echoing a value)."""
    params = params or {}
    errors = [FieldError(name, "unknown parameter") for name in sorted(params) if name not in KNOWN]
    found: dict[str, Any] = {}
    for name, choices in CHOICES.items():
        if name in params:
            if params[name] in choices:
                found[name] = params[name]
            else:
                errors.append(FieldError(name, f"must be one of: {', '.join(choices)}"))
    for name in TIMES:
        if name in params:
            # A date means its end for "before", its start for "after".
            moment = instant(
                params[name] + ("T00:00:00Z" if name == "created_after" and len(params[name]) == 10 else ""),
                date_ends_day=True,
            )
            if moment is None:
                errors.append(FieldError(name, "must be an ISO-8601 date or time with a time zone"))
            else:
                found[name] = utc_timestamp(moment)
    if "final" in params:
        if params["final"] in ("true", "false"):
            found["final"] = params["final"] == "true"
        else:
            errors.append(FieldError("final", "must be true or false"))
    if "vendor" in params:
        if _VENDOR.fullmatch(params["vendor"]):
            found["vendor"] = params["vendor"]
        else:
            errors.append(FieldError("vendor", "must be a vendor name"))
    if "outcome" in found and "vendor" not in params:
        errors.append(FieldError("outcome", "goes with vendor: the outcome at which vendor"))
    limit = params.get("limit", str(DEFAULT_LIMIT))
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
        errors.append(FieldError("limit", f"must be a whole number from 1 to {MAX_LIMIT}"))
    if errors:
        raise InvalidRequest(errors)
    return ListFilter(**found), int(limit), params.get("next_token")
