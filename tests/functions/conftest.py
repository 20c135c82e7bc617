"""What the function suites share: the vendor sandbox holding one person, Ana, at every vendor
(a module with people of its own defines its own `sandbox`)."""

from __future__ import annotations

import pytest

from tests.helpers import ANA, sandbox_holding


@pytest.fixture
def sandbox():
    with sandbox_holding([ANA]) as running:
        yield running
