"""The programme figures' publication rules, pure: participants trained and completions per
year and group (country, and the course, role and gender when asked), the running totals since
the first year of data, and the suppression of small cells.

A yearly cell is withheld when it counts fewer participants than the minimum, or fewer factories
than the minimum (so that no factory's own training can be read off a public figure). Running
totals must not give a withheld year away: two totals differ by the years between them, so the
years withheld since the last total shown are held together until their sum is itself a cell fit
to show; the next year that would be shown is withheld too (secondary suppression) to make that
sum, and the total is shown again from there. A running total is withheld below the minimums too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

GROUP_DIMENSIONS = ("course_code", "role", "gender")


@dataclass(frozen=True, slots=True)
class Minimums:
    participants: int
    factories: int

    def met(self, participants: int, factories: int) -> bool:
        return participants >= self.participants and factories >= self.factories


@dataclass(frozen=True, slots=True)
class Cell:
    """A group's figures in one year. `factories` is a lower bound of the distinct factories
    behind them (exact for a fine cell; the largest fine cell's count for a coarser group)."""

    group: tuple[str | None, ...]  # (country, course_code, role, gender): None when not grouped
    year: int
    participants: int
    completions: int
    factories: int


@dataclass(frozen=True, slots=True)
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
    # the years withheld since the last total shown: their participants and factories
    pending = False
    pending_participants = pending_factories = 0
    for cell in cells:
        participants += cell.participants
        completions += cell.completions
        most_factories = max(most_factories, cell.factories)
        # a year fit to show is withheld while earlier withheld years wait for company
        yearly_withheld = pending or not minimums.met(cell.participants, cell.factories)
        if yearly_withheld:
            pending = True
            pending_participants += cell.participants
            pending_factories = max(pending_factories, cell.factories)
        cumulative_shown = minimums.met(participants, most_factories) and (
            not pending or minimums.met(pending_participants, pending_factories)
        )
        if cumulative_shown:
            pending = False
            pending_participants = pending_factories = 0
        figures.append(
            Figure(
                group=cell.group,
                year=cell.year,
                participants=None if yearly_withheld else cell.participants,
                completions=None if yearly_withheld else cell.completions,
                cumulative_participants=participants if cumulative_shown else None,
                cumulative_completions=completions if cumulative_shown else None,
                suppressed=yearly_withheld,
                cumulative_suppressed=not cumulative_shown,
            )
        )
    return figures
