"""The programme figures' publication: running totals since a group's first year, and small
cells withheld so that none can be worked out from what is shown. No I/O."""

from __future__ import annotations

from services.advisory.domain.figures import Cell, Minimums, publish

MINIMUMS = Minimums(participants=10, factories=2)
GROUP = ("KH", "SST", None, None)


def cell(year: int, participants: int, factories: int = 3) -> Cell:
    return Cell(GROUP, year, participants, participants // 2, factories)


def test_running_totals_count_every_year_from_the_first() -> None:
    figures = publish([cell(2005, 40), cell(2004, 20), cell(2006, 30)], MINIMUMS)
    assert [(f.year, f.participants, f.cumulative_participants) for f in figures] == [
        (2004, 20, 20),
        (2005, 40, 60),
        (2006, 30, 90),
    ]
    assert [f.cumulative_completions for f in figures] == [10, 30, 45]


def test_asking_for_later_years_still_counts_the_earlier_ones() -> None:
    figures = publish([cell(2004, 20), cell(2005, 40)], MINIMUMS, years=(2005, 2005))
    assert [(f.year, f.cumulative_participants) for f in figures] == [(2005, 60)]


def test_a_cell_below_the_minimum_participants_or_factories_is_withheld() -> None:
    small, few = publish([cell(2004, 9)], MINIMUMS), publish([cell(2004, 50, 1)], MINIMUMS)
    for figures in (small, few):
        assert figures[0].suppressed and figures[0].participants is None
        assert figures[0].cumulative_suppressed and figures[0].cumulative_participants is None


def test_a_withheld_first_year_is_shown_only_summed_with_the_next() -> None:
    """2004 is withheld. 2005's total minus its year would give 2004's 5, so 2005's own figure
    is withheld too and its total (45) shows the two years together, never 2004 alone; from
    2006 on, years and totals are shown again."""
    figures = publish([cell(2004, 5), cell(2005, 40), cell(2006, 30)], MINIMUMS)
    assert [(f.participants, f.cumulative_participants) for f in figures] == [
        (None, None),
        (None, 45),
        (30, 75),
    ]
    assert [(f.suppressed, f.cumulative_suppressed) for f in figures] == [
        (True, True),
        (True, False),
        (False, False),
    ]


def test_a_withheld_year_after_shown_ones_is_summed_with_the_next() -> None:
    figures = publish([cell(2004, 40), cell(2005, 3), cell(2006, 30), cell(2007, 12)], MINIMUMS)
    assert [(f.participants, f.cumulative_participants) for f in figures] == [
        (40, 40),
        (None, None),
        (None, 73),
        (12, 85),
    ]


def test_small_years_in_a_row_wait_until_their_sum_may_be_shown() -> None:
    figures = publish([cell(2004, 4), cell(2005, 3), cell(2006, 5)], MINIMUMS)
    assert [(f.participants, f.cumulative_participants) for f in figures] == [
        (None, None),
        (None, None),
        (None, 12),
    ]


def test_no_shown_total_and_year_give_a_withheld_year_away() -> None:
    """Two shown totals differ by the years between them: with the shown years taken away, what
    is left is never one withheld year alone, only several together (whose sum passed)."""
    series = [12, 3, 40, 2, 2, 25, 9, 11, 30, 1]
    figures = publish([cell(2000 + offset, n) for offset, n in enumerate(series)], MINIMUMS)
    hidden: list[int] = []
    for figure, count in zip(figures, series, strict=True):
        if figure.suppressed:
            hidden.append(count)
        if figure.cumulative_participants is not None:
            assert len(hidden) != 1
            assert not hidden or sum(hidden) >= MINIMUMS.participants
            hidden = []
    assert sum(figure.suppressed for figure in figures) >= 5


def test_groups_are_each_their_own_series_in_a_stable_order() -> None:
    other = Cell(("BD", "SST", None, None), 2004, 15, 15, 4)
    figures = publish([cell(2004, 20), other], MINIMUMS)
    assert [(f.group[0], f.cumulative_participants) for f in figures] == [("BD", 15), ("KH", 20)]
