"""`make bench` (`python -m tools.bench`): figures, never verdicts in a test.

Each item prints its figure, its target and the floor or baseline measured in the same run:
cold starts, reading vendor answers, a 1,000-request bulk intake, a vendor batch's ledger work,
vendor ceilings under queue and API traffic together, and the relay's throughput.
"""
