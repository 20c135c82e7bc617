"""The receipts function: status-change events from the ledger's stream, and the deadline watch."""

from erasure.handlers.receipts import receipts_handler

lambda_handler = receipts_handler()
