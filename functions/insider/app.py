"""The insider vendor function: its SQS queue and its API route. The logic lives in the layer."""

from erasure.handlers.vendor import vendor_handler

lambda_handler = vendor_handler("insider")
