"""The bench's table: one line per figure, with its target and the baseline of the same run."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    item: str
    value: float
    unit: str
    target: float | None  # the most the figure may be; None: shown for information
    baseline: str = ""  # what the same run measured to compare with (a floor, the old way)

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        if self.value <= self.target:
            return "ok"
        return f"missed by {self.value / self.target - 1:.0%}" if self.target else "missed"


def progress(message: str) -> None:
    """Where the bench is: on stderr, so that stdout holds only the figures."""
    print(f"  … {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def table(title: str, figures: list[Figure]) -> str:
    lines = [f"\n{title}", f"  {'item':<52} {'figure':>14} {'target':>12}  {'verdict':<16} baseline"]
    for f in figures:
        target = "-" if f.target is None else f"≤ {f.target:g} {f.unit}"
        lines.append(f"  {f.item:<52} {f.value:>9.3g} {f.unit:<4} {target:>12}  {f.verdict:<16} {f.baseline}")
    return "\n".join(lines)
