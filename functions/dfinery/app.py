"""The dfinery vendor function: its SQS queue and its API route. The logic lives in the layer."""

from erasure.entry import vendor_handler

lambda_handler = vendor_handler("dfinery")
