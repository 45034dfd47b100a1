"""The programme figures' publication rules, pure: participants trained and completions per
year and group (country, and the course, role and gender when asked), the running totals since
the first year of data, and the suppression of small cells.

A yearly cell is withheld when it counts fewer participants than the minimum, or fewer factories
than the minimum (so that no factory's own training can be read off a public figure). A running
total is withheld on the same rules, and also when publishing it would let a withheld cell be
worked out: cumulative(Y) - yearly(Y) = cumulative(Y-1), so of those two, either both are shown
or both are withheld (then the total only reveals their sum, which passed the minimums)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

GROUP_DIMENSIONS = ("course_code", "role", "gender")


@dataclass(frozen=True)
class Minimums:
    participants: int
    factories: int

    def met(self, participants: int, factories: int) -> bool:
        return participants >= self.participants and factories >= self.factories


@dataclass(frozen=True)
class Cell:
    """A group's figures in one year. `factories` is a lower bound of the distinct factories
    behind them (exact for a fine cell; the largest fine cell's count for a coarser group)."""

    group: tuple[str | None, ...]  # (country, course_code, role, gender): None when not grouped
    year: int
    participants: int
    completions: int
    factories: int


@dataclass(frozen=True)
class Figure:
    group: tuple[str | None, ...]
    year: int
    participants: int | None
    completions: int | None
    cumulative_participants: int | None
    cumulative_completions: int | None
    suppressed: bool
    cumulative_suppressed: bool


def publish(
    cells: Iterable[Cell], minimums: Minimums, years: tuple[int, int] | None = None
) -> list[Figure]:
    """The figures of `cells` (any order), each group's years in order with its running totals
    from its first year; only the years in `years` (inclusive) are returned, but the totals count
    every earlier year too."""
    by_group: dict[tuple[str | None, ...], list[Cell]] = {}
    for cell in cells:
        by_group.setdefault(cell.group, []).append(cell)
    figures = []
    for group in sorted(by_group, key=lambda key: tuple(part or "" for part in key)):
        figures.extend(_group_figures(sorted(by_group[group], key=lambda c: c.year), minimums))
    if years is None:
        return figures
    first, last = years
    return [figure for figure in figures if first <= figure.year <= last]


def _group_figures(cells: Sequence[Cell], minimums: Minimums) -> list[Figure]:
    figures = []
    participants = completions = most_factories = 0
    previous_withheld = False  # the running total before this year: withheld and not zero
    for cell in cells:
        participants += cell.participants
        completions += cell.completions
        most_factories = max(most_factories, cell.factories)
        yearly_withheld = not minimums.met(cell.participants, cell.factories)
        cumulative_withheld = not minimums.met(participants, most_factories) or (
            yearly_withheld != previous_withheld
        )
        figures.append(
            Figure(
                group=cell.group,
                year=cell.year,
                participants=None if yearly_withheld else cell.participants,
                completions=None if yearly_withheld else cell.completions,
                cumulative_participants=None if cumulative_withheld else participants,
                cumulative_completions=None if cumulative_withheld else completions,
                suppressed=yearly_withheld,
                cumulative_suppressed=cumulative_withheld,
            )
        )
        previous_withheld = cumulative_withheld
    return figures
