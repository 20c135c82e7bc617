"""moto's server, with two of its costs that grow with the data cut to what AWS's would be.

moto (5.2.5) slows as the local stack fills, which DynamoDB and SQS do not; a 1,000-request bulk
then outlasted API Gateway's 29 s locally although the relay's own work took about 1 s:
- DynamoDB backs up the whole table before each item of a TransactWriteItems (to roll back on a
  failed condition): 100 deep copies of the table per transaction. A bulk chunk of 100 requests took
  1.1 s on an empty ledger, 6.8 s with 300 requests in it. Here each table is copied once per
  transaction; the rollback is moto's own and unchanged.
- SQS reads every message's visibility through datetime arithmetic, for every message sent (the
  queue's attributes are computed to look up one): 80% of the server's CPU during a bulk. Here that
  clock is `time.time()`, the same value without the datetimes.

Run as `python -m tools.sam_local.moto_server` with moto.server's arguments.
"""

from __future__ import annotations

import copy
import sys
import threading
import time
from types import SimpleNamespace
from typing import Any

import moto.dynamodb.models as dynamodb_models
import moto.sqs.models as sqs_models
from moto.dynamodb.models.table import Table
from moto.server import main

_transaction = threading.local()  # the server runs each request in its own thread


def _deepcopy(value: Any, memo: dict | None = None) -> Any:
    copies = getattr(_transaction, "table_copies", None)
    if copies is None or not isinstance(value, Table):
        return copy.deepcopy(value, memo)
    if id(value) not in copies:
        copies[id(value)] = copy.deepcopy(value)
    return copies[id(value)]


def _copy_each_table_once(transact_write_items: Any) -> Any:
    def once(self: Any, transact_items: list[dict[str, Any]]) -> None:
        _transaction.table_copies = {}
        try:
            return transact_write_items(self, transact_items)
        finally:
            _transaction.table_copies = None

    return once


def _unix_time_millis(dt: Any = None, *, unix_time_millis: Any = sqs_models.unix_time_millis) -> float:
    return time.time() * 1000.0 if dt is None else unix_time_millis(dt)


def install() -> None:
    """Make the two cuts in this process (once, however often it is called)."""
    if dynamodb_models.copy is not copy:
        return
    sqs_models.unix_time_millis = _unix_time_millis
    dynamodb_models.copy = SimpleNamespace(deepcopy=_deepcopy)
    backend = dynamodb_models.DynamoDBBackend
    backend.transact_write_items = _copy_each_table_once(backend.transact_write_items)


if __name__ == "__main__":
    install()
    main(sys.argv[1:])
