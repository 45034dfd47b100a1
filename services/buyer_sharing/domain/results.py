"""The programme's results table, pure (docs/programme-results.md): the rows per calendar year
of business time and the cumulative one, from what the programme's facts give per year
(queries/results.py aggregates them: who counts, and on which days, is decided there): the
years the facts span, zeros for a year without any, the rates rounded, the cumulative sums."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

RATE_DECIMALS = 4


@dataclass(frozen=True)
class YearFacts:
    """What one calendar year's facts give; a year with no fact has none."""

    assessments: int = 0  # completed reports dated in the year
    factories: int = 0  # distinct factories with such a report
    women: int = 0  # per such factory, its workforce on its last report date of the year
    men: int = 0
    buyers_participating: int = 0  # distinct buyers with a grant in force on a day of the year
    buyers_relying: int = 0  # distinct buyers with a reliance in force on a day of the year
    training_participants: int = 0  # attendees of the sessions that ended in the year
    training_completions: int = 0
    advisory_days: Decimal = Decimal(0)
    # per cluster answered in the year's reports: how many of them are non-compliant in it
    non_compliant: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Ever:
    """What is counted once over all the years: the factories ever assessed (each with its
    workforce on its last report date) and the distinct buyers ever participating and relying."""

    factories: int = 0
    women: int = 0
    men: int = 0
    buyers_participating: int = 0
    buyers_relying: int = 0


@dataclass(frozen=True)
class ProgrammeFacts:
    years: Mapping[int, YearFacts] = field(default_factory=dict)
    ever: Ever = Ever()


@dataclass(frozen=True)
class Workers:
    women: int = 0
    men: int = 0

    @property
    def total(self) -> int:
        return self.women + self.men


@dataclass(frozen=True)
class Figures:
    """One row of the table: a year's, or the cumulative one."""

    assessments_completed: int = 0
    factories_assessed: int = 0
    workers: Workers = Workers()
    buyers_participating: int = 0
    buyers_relying: int = 0
    training_participants: int = 0
    training_completions: int = 0
    advisory_days: Decimal = Decimal(0)
    non_compliance_rate: Mapping[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "assessments_completed": self.assessments_completed,
            "factories_assessed": self.factories_assessed,
            "workers": {
                "women": self.workers.women,
                "men": self.workers.men,
                "total": self.workers.total,
            },
            "buyers_participating": self.buyers_participating,
            "buyers_relying": self.buyers_relying,
            "training_participants": self.training_participants,
            "training_completions": self.training_completions,
            "advisory_days": float(self.advisory_days),
            "non_compliance_rate": dict(sorted(self.non_compliance_rate.items())),
        }


@dataclass(frozen=True)
class ResultsTable:
    country: str
    first_year: int
    last_year: int
    years: Mapping[int, Figures]
    cumulative: Figures

    @property
    def clusters(self) -> list[str]:
        """Every cluster answered in any year, sorted."""
        return sorted(self.cumulative.non_compliance_rate)

    def as_json(self) -> dict[str, Any]:
        return {
            "country": self.country,
            "first_year": self.first_year,
            "last_year": self.last_year,
            "years": [{"year": year, **self.years[year].as_json()} for year in sorted(self.years)],
            "cumulative": self.cumulative.as_json(),
        }


def rate(count: int, assessments: int) -> float:
    """A share of the assessments, rounded to RATE_DECIMALS (Python's round of the quotient)."""
    return round(count / assessments, RATE_DECIMALS) if assessments else 0.0


def _rates(non_compliant: Mapping[str, int], assessments: int) -> dict[str, float]:
    return {cluster: rate(count, assessments) for cluster, count in sorted(non_compliant.items())}


def _figures(facts: YearFacts) -> Figures:
    return Figures(
        assessments_completed=facts.assessments,
        factories_assessed=facts.factories,
        workers=Workers(facts.women, facts.men),
        buyers_participating=facts.buyers_participating,
        buyers_relying=facts.buyers_relying,
        training_participants=facts.training_participants,
        training_completions=facts.training_completions,
        advisory_days=facts.advisory_days,
        non_compliance_rate=_rates(facts.non_compliant, facts.assessments),
    )


def results_table(country: str, facts: ProgrammeFacts, today: date) -> ResultsTable | None:
    """The country programme's table, from the first year with a fact to the last, never after
    `today`'s year; None when it has no fact in any of those years."""
    known = {year: entry for year, entry in facts.years.items() if year <= today.year}
    if not known:
        return None
    first, last = min(known), max(known)
    years = {year: _figures(known.get(year, YearFacts())) for year in range(first, last + 1)}
    entries = known.values()
    assessments = sum(entry.assessments for entry in entries)
    non_compliant: dict[str, int] = {}
    for entry in entries:
        for cluster, count in entry.non_compliant.items():
            non_compliant[cluster] = non_compliant.get(cluster, 0) + count
    ever = facts.ever
    cumulative = Figures(
        assessments_completed=assessments,
        factories_assessed=ever.factories,
        workers=Workers(ever.women, ever.men),
        buyers_participating=ever.buyers_participating,
        buyers_relying=ever.buyers_relying,
        training_participants=sum(entry.training_participants for entry in entries),
        training_completions=sum(entry.training_completions for entry in entries),
        advisory_days=sum((entry.advisory_days for entry in entries), Decimal(0)),
        non_compliance_rate=_rates(non_compliant, assessments),
    )
    return ResultsTable(country, first, last, years, cumulative)
