"""The intake function: POST /v1/deletions and the intake queue. The logic lives in the layer."""

from erasure.intake_entry import intake_handler

lambda_handler = intake_handler()
