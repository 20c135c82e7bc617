"""The Lambda handlers, by role: each function's app.py builds one of these in one line.

- vendor.py: a vendor function (its queue and its API route);
- intake.py: POST /v1/deletions and the intake queue;
- status.py: GET /v1/deletions/{request_id};
- receipts.py: status events from the ledger's stream, and the hourly deadline watch;
- events.py: the shape of an invocation, checked before a handler trusts it;
- sqs.py: what the queue-fed handlers share;
- http_answers.py: every domain error and outcome as an HTTP answer.
"""
