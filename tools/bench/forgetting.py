"""What forgetting costs: the relay's messages name identifiers by keyed hash and keep the values
in the ledger until the request is final (design (a) of issue 21), against carrying them (what
the relay did before) and against crypto-shredding (design (b), measured where it can be here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

from erasure.aws_clients import TRUSTED_CALLS
from erasure.intake import Intake, Routing
from erasure.ledger import LedgerTable, RequestBook
from erasure.ledger.identities import IdentityBook
from erasure.observability import IdentifierHasher
from erasure.request import DeletionRequest, parse
from erasure.sealing import UNSEALED, Sealer, sealed_or_none, vendor_message
from erasure.vendors import CONNECTORS
from tools.bench.cpu import KEY, cpu_seconds
from tools.bench.report import Figure
from tools.bench.stubbed_aws import StubbedAws

REQUESTS = 1000
TYPICAL = {"external_id": "crm-000123", "email": "jane.doe@example.com"}
LARGEST = {  # the most one request may carry: 20 custom identifiers and an email, of 512 characters
    "email": "j" * 500 + "@example.com",
    "custom": {f"id_{n}": "é" * 512 for n in range(20)},
}
HANDLER_MODULES = ("erasure.sealing", "erasure.ledger.identities", "erasure.handlers.messages")


def bytes_per_message() -> list[Figure]:
    figures = []
    sealer = Sealer(IdentityBook(LedgerTable(None, "ledger", 400), IdentifierHasher(KEY), 15, "intake"))
    for name, identity in (("typical (external_id, email)", TYPICAL), ("largest (21 identifiers)", LARGEST)):
        request = parse({"request_id": "r-1", "identity": identity})
        plain = UNSEALED.seal([(request, vendor_message(request))])[0]
        named = sealer.seal([(request, vendor_message(request))], kept=True)[0]
        figures.append(
            Figure(
                f"a vendor message, {name}",
                len(named.encode()),
                "B",
                None,
                f"carrying the values: {len(plain.encode()):,} B",
            )
        )
    return figures


def cpu_per_record(count: int = 2000) -> list[Figure]:
    """Naming identifiers when a message is sent, reading them back when it is received (the
    ledger's answer given), against sending and parsing the values."""
    hasher = IdentifierHasher(KEY)
    sealer = Sealer(IdentityBook(LedgerTable(None, "ledger", 400), hasher, 15, "intake"))
    requests = [parse({"request_id": f"r-{n}", "identity": TYPICAL}) for n in range(count)]
    pairs = [(r, vendor_message(r)) for r in requests]
    plain = UNSEALED.seal(pairs)
    named = sealer.seal(pairs, kept=True)
    found = {(r.request_id, hasher(i)): i for r in requests for i in r.identifiers}

    def open_all() -> None:
        for text in named:
            sealed = sealed_or_none(json.loads(text))
            assert sealed is not None
            parse(sealed.opened(found), steps=True)

    def parse_all() -> None:
        for text in plain:
            parse(json.loads(text), steps=True)

    def per_record(work: Callable[[], object]) -> float:
        return cpu_seconds(work, repeat=3) / count * 1e6

    return [
        Figure(
            "send: name a message's identifiers",
            per_record(lambda: sealer.seal(pairs, kept=True)),
            "µs",
            50,
            "",
        ),
        Figure(
            "  carrying the values instead",
            per_record(lambda: UNSEALED.seal(pairs)),
            "µs",
            None,
            "the old way",
        ),
        Figure("receive: read them back and parse", per_record(open_all), "µs", 100, ""),
        Figure("  parsing the values instead", per_record(parse_all), "µs", None, "the old way"),
    ]


def aws_calls_per_bulk() -> list[Figure]:
    """A bulk of REQUESTS through intake, its AWS calls counted (network stubbed): KMS is never
    called by the relay (SQS and DynamoDB encrypt under RelayKey themselves, reusing data keys)."""
    aws = StubbedAws()
    hasher = IdentifierHasher(KEY)
    table = LedgerTable(aws.client("dynamodb", TRUSTED_CALLS), "ledger", 400)
    urls = {vendor: f"https://sqs.us-east-1.amazonaws.com/123456789012/{vendor}" for vendor in CONNECTORS}
    sqs = aws.client("sqs", TRUSTED_CALLS)

    def send_batch(url: str, bodies: list[str]) -> None:
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": b} for n, b in enumerate(bodies)]
        )

    requests: list[DeletionRequest] = [
        parse({"request_id": f"r-{n}", "identity": TYPICAL | {"external_id": f"crm-{n}"}})
        for n in range(REQUESTS)
    ]
    named = Intake(
        Routing(urls),
        RequestBook(table, hasher),
        send_batch,
        sealer=Sealer(IdentityBook(table, hasher, 15, "intake")),
    )
    named.submit_many(requests)
    with_names = sum(aws.calls.values())
    kms = sum(
        n for operation, n in aws.calls.items() if operation in ("GenerateDataKey", "Decrypt", "Encrypt")
    )
    aws.calls.clear()
    Intake(Routing(urls), RequestBook(table, hasher), send_batch).submit_many(requests)
    carrying = sum(aws.calls.values())
    return [
        Figure(
            f"KMS calls the relay makes for {REQUESTS:,} requests",
            kms,
            "",
            0,
            "crypto-shredding: ≥ 1 a chunk of 100, and per vendor batch",
        ),
        Figure(
            f"AWS calls of a {REQUESTS:,}-request bulk intake",
            with_names,
            "",
            None,
            f"carrying the values: {carrying} (the difference keeps {2 * REQUESTS:,} identifiers)",
        ),
    ]


def import_ms() -> list[Figure]:
    """Cold-start cost: the new modules over what a vendor function imports anyway, and what
    design (b) would add (the `cryptography` package's AEAD, not in the Lambda runtime)."""

    # The child finds the layer where this process does (tools.bench puts it on sys.path).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}

    def cost(setup: str, module: str) -> float:
        code = (
            f"import time; {setup}; t = time.perf_counter(); import {module}; "
            "print((time.perf_counter() - t) * 1000)"
        )
        runs = [
            float(
                subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
                ).stdout
            )
            for _ in range(5)
        ]
        return sorted(runs)[2]

    already = "import erasure.handlers.sqs, erasure.verification"
    ours = cost(already, ", ".join(HANDLER_MODULES))
    try:
        aead = cost("pass", "cryptography.hazmat.primitives.ciphers.aead")
        other = f"crypto-shredding's AES-GCM (cryptography): {aead:.0f} ms"
    except subprocess.CalledProcessError:
        other = "cryptography is not installed here"
    return [Figure("import of what names and reads identifiers", ours, "ms", 5, other)]


def crypto_shredding(count: int = 2000) -> list[Figure]:
    """Design (b), as far as it can be measured here: the same messages with their `identity`
    under AES-GCM (a data key already unwrapped, as a cache would hold it), base64 in the JSON."""
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        return [Figure("crypto-shredding (cryptography is not installed here)", 0, "", None, "")]
    import base64

    cipher = AESGCM(AESGCM.generate_key(bit_length=256))

    def shredded(request: DeletionRequest) -> str:
        message = vendor_message(request)
        nonce = os.urandom(12)
        sealed = cipher.encrypt(nonce, json.dumps(message.pop("identity"), ensure_ascii=False).encode(), None)
        message["identity_sealed"] = base64.b64encode(nonce + sealed).decode()
        message["data_key"] = "k" * 32  # which wrapped key: as long as a hash
        return json.dumps(message, ensure_ascii=False)

    figures = []
    for name, identity in (("typical", TYPICAL), ("largest", LARGEST)):
        text = shredded(parse({"request_id": "r-1", "identity": identity}))
        figures.append(
            Figure(f"  crypto-shredding: a {name} message", len(text.encode()), "B", None, "design (b)")
        )
    requests = [parse({"request_id": f"r-{n}", "identity": TYPICAL}) for n in range(count)]
    texts = [shredded(r) for r in requests]

    def open_all() -> None:
        for text in texts:
            message = json.loads(text)
            raw = base64.b64decode(message.pop("identity_sealed"))
            message["identity"] = json.loads(cipher.decrypt(raw[:12], raw[12:], None))
            message.pop("data_key")
            parse(message, steps=True)

    sent = cpu_seconds(lambda: [shredded(r) for r in requests], repeat=3) / count * 1e6
    received = cpu_seconds(open_all, repeat=3) / count * 1e6
    figures.append(
        Figure("  crypto-shredding: send / receive a message", sent, "µs", None, f"receive {received:.1f} µs")
    )
    return figures


def forgetting() -> list[Figure]:
    return [*bytes_per_message(), *cpu_per_record(), *aws_calls_per_bulk(), *import_ms(), *crypto_shredding()]
