"""The bench's forgetting figures (issue 21) are made, in a fresh interpreter too: messages that
name identifiers are far smaller than those carrying 21 long values, and the relay calls no KMS."""

from tools.bench.forgetting import forgetting


def test_the_forgetting_bench_makes_every_figure():
    figures = {figure.item: figure for figure in forgetting()}
    largest = figures["a vendor message, largest (21 identifiers)"]
    assert largest.value < 1000 and "21,374 B" in largest.baseline
    assert figures["KMS calls the relay makes for 1,000 requests"].value == 0
    assert figures["import of what names and reads identifiers"].value > 0  # measured in a child
