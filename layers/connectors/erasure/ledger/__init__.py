"""The deletion ledger (DynamoDB): what was asked, where it went, and per vendor and identifier
what happened and when. One part per caller, over one table (table.py says its layout):

- requests.py: intake records a request once, the vendor queues that took it, or a rejection;
- claims.py: one request_id, one request, whichever entry point used it first;
- outcomes.py: the vendor functions' outcomes and verification checks;
- receipts.py: the receipt, its publication, and the deadline index.
"""

from erasure.errors import ConflictingRequest, OutcomeNotRecorded
from erasure.ledger.claims import Admission, Claims, Head
from erasure.ledger.outcomes import OutcomeBook
from erasure.ledger.receipts import ReceiptBook
from erasure.ledger.requests import RequestBook, StoredRequest, content_fingerprint
from erasure.ledger.table import DEADLINE_INDEX, DEADLINE_WATCH, LedgerTable

__all__ = [
    "DEADLINE_INDEX",
    "DEADLINE_WATCH",
    "Admission",
    "Claims",
    "ConflictingRequest",
    "Head",
    "LedgerTable",
    "OutcomeBook",
    "OutcomeNotRecorded",
    "ReceiptBook",
    "RequestBook",
    "StoredRequest",
    "content_fingerprint",
]
