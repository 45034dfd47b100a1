"""Plain-text tables for the benchmark's figures and its summary against the targets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    """One summary line: a measured figure against its target."""

    workload: str
    figure: str
    target: str
    met: bool | None  # None: a diagnostic figure without a target


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [
        max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)
    ]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True))

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def summary(outcomes: Sequence[Outcome]) -> str:
    return table(
        ["workload", "figure", "target", "met"],
        [
            [
                outcome.workload,
                outcome.figure,
                outcome.target,
                "-" if outcome.met is None else "✓" if outcome.met else "✗",
            ]
            for outcome in outcomes
        ],
    )


def rate(value: float) -> str:
    return f"{value:,.0f}/s"
