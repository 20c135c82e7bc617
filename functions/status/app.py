"""The status function: GET /v1/deletions/{request_id}, the receipt. The logic lives in the layer."""

from erasure.handlers.status import status_handler

lambda_handler = status_handler()
