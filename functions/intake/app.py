"""The intake function: POST /v1/deletions and the intake queue. The logic lives in the layer."""

from erasure.handlers.intake import intake_handler

lambda_handler = intake_handler()
