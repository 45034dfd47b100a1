"""The programme's results table, pure (docs/programme-results.md): per calendar year of business
time and cumulative, from plain facts that the queries read (queries/results.py): the years a
country's facts span, the workforce in force on a day, grant and reliance periods, distinct
counts, sums and rounded rates."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

RATE_DECIMALS = 4


@dataclass(frozen=True)
class AssessedYear:
    """A factory's completed assessments with a report date in a year."""

    factory_id: str
    year: int
    assessments: int
    last_report_date: date


@dataclass(frozen=True)
class WorkforceFact:
    """A factory's workforce as a registration or update gave it, in force from a day."""

    factory_id: str
    in_force_from: date
    version: int  # the factory stream's: the later of two facts of one day wins
    women: int
    men: int


@dataclass(frozen=True)
class ClusterYear:
    """A cluster answered in a year's assessments, and how many of them found a non-compliance
    in it (corrections applied)."""

    year: int
    cluster_id: str
    non_compliant: int


@dataclass(frozen=True)
class Period:
    """A buyer's grant or reliance at a factory, in force from `first_day` through `last_day`
    (never, when `last_day` is before `first_day`)."""

    buyer_id: str
    first_day: date
    last_day: date


@dataclass(frozen=True)
class TrainingYear:
    """Delivered sessions' attendees whose session ended in a year, and their completions."""

    year: int
    participants: int
    completions: int


@dataclass(frozen=True)
class AdvisoryYear:
    year: int
    days: Decimal


@dataclass(frozen=True)
class Facts:
    """Everything the table of one country programme is computed from."""

    assessed: Sequence[AssessedYear] = ()
    workforce: Sequence[WorkforceFact] = ()
    clusters: Sequence[ClusterYear] = ()
    grants: Sequence[Period] = ()
    reliances: Sequence[Period] = ()
    training: Sequence[TrainingYear] = ()
    advisory: Sequence[AdvisoryYear] = ()


def grant_period(
    buyer_id: str, granted_on: date, ends_on: date | None, next_change_on: date | None
) -> Period:
    """A grant is in force from its day through its end date or the day before the pair's next
    change (a revocation, or a new grant that replaces it), whichever is first."""
    last = date.max if ends_on is None else ends_on
    if next_change_on is not None:
        last = min(last, next_change_on - timedelta(days=1))
    return Period(buyer_id, granted_on, last)


def reliance_period(
    buyer_id: str, period_start: date, period_end: date, withdrawn_on: date | None
) -> Period:
    """A reliance is in force from its period's start through its end or the day before its
    withdrawal, whichever is first."""
    last = period_end if withdrawn_on is None else min(period_end, withdrawn_on - timedelta(1))
    return Period(buyer_id, period_start, last)


def years_in_force(period: Period, today: date) -> range:
    """The calendar years with at least one day of the period up to `today`."""
    last = min(period.last_day, today)
    if last < period.first_day:
        return range(0)
    return range(period.first_day.year, last.year + 1)


def workforce_on(facts: Sequence[WorkforceFact], day: date) -> tuple[int, int]:
    """(women, men) in force on `day`: the newest fact from that day or before; a factory known
    only from later (registered after its report) counts its earliest workforce; none known: 0."""
    if not facts:
        return 0, 0
    in_force = [fact for fact in facts if fact.in_force_from <= day]
    if in_force:
        chosen = max(in_force, key=lambda fact: (fact.in_force_from, fact.version))
    else:
        chosen = min(facts, key=lambda fact: (fact.in_force_from, -fact.version))
    return chosen.women, chosen.men


@dataclass(frozen=True)
class Workers:
    women: int = 0
    men: int = 0

    @property
    def total(self) -> int:
        return self.women + self.men

    def __add__(self, other: Workers) -> Workers:
        return Workers(self.women + other.women, self.men + other.men)


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


def _buyers_by_year(periods: Iterable[Period], today: date) -> dict[int, set[str]]:
    by_year: dict[int, set[str]] = {}
    for period in periods:
        for year in years_in_force(period, today):
            by_year.setdefault(year, set()).add(period.buyer_id)
    return by_year


def _ever(by_year: Mapping[int, set[str]]) -> set[str]:
    ever: set[str] = set()
    for buyers in by_year.values():
        ever |= buyers
    return ever


def results_table(country: str, facts: Facts, today: date) -> ResultsTable | None:
    """The country programme's table from its facts, up to `today`'s year; None when it has no
    fact in any year up to then."""
    current = today.year
    assessed = [entry for entry in facts.assessed if entry.year <= current]
    clusters = [entry for entry in facts.clusters if entry.year <= current]
    training = [entry for entry in facts.training if entry.year <= current]
    advisory = [entry for entry in facts.advisory if entry.year <= current]
    participating = _buyers_by_year(facts.grants, today)
    relying = _buyers_by_year(facts.reliances, today)
    years = {entry.year for entry in assessed} | {entry.year for entry in training}
    years |= {entry.year for entry in advisory} | set(participating) | set(relying)
    if not years:
        return None
    first, last = min(years), max(years)

    workforce: dict[str, list[WorkforceFact]] = {}
    for fact in facts.workforce:
        workforce.setdefault(fact.factory_id, []).append(fact)
    assessments: dict[int, int] = {}
    factories: dict[int, set[str]] = {}
    workers: dict[int, Workers] = {}
    last_assessed: dict[str, AssessedYear] = {}  # per factory, its latest year
    for entry in assessed:
        assessments[entry.year] = assessments.get(entry.year, 0) + entry.assessments
        factories.setdefault(entry.year, set()).add(entry.factory_id)
        women, men = workforce_on(workforce.get(entry.factory_id, ()), entry.last_report_date)
        workers[entry.year] = workers.get(entry.year, Workers()) + Workers(women, men)
        latest = last_assessed.get(entry.factory_id)
        if latest is None or latest.last_report_date < entry.last_report_date:
            last_assessed[entry.factory_id] = entry
    non_compliant: dict[int, dict[str, int]] = {}
    for cluster in clusters:
        non_compliant.setdefault(cluster.year, {})[cluster.cluster_id] = cluster.non_compliant
    participants = {entry.year: entry for entry in training}
    days = {entry.year: entry.days for entry in advisory}

    table: dict[int, Figures] = {}
    for year in range(first, last + 1):
        completed = assessments.get(year, 0)
        trained = participants.get(year, TrainingYear(year, 0, 0))
        table[year] = Figures(
            assessments_completed=completed,
            factories_assessed=len(factories.get(year, ())),
            workers=workers.get(year, Workers()),
            buyers_participating=len(participating.get(year, ())),
            buyers_relying=len(relying.get(year, ())),
            training_participants=trained.participants,
            training_completions=trained.completions,
            advisory_days=days.get(year, Decimal(0)),
            non_compliance_rate={
                cluster_id: rate(count, completed)
                for cluster_id, count in sorted(non_compliant.get(year, {}).items())
            },
        )

    all_assessments = sum(assessments.values())
    ever_non_compliant: dict[str, int] = {}
    for by_cluster in non_compliant.values():
        for cluster_id, count in by_cluster.items():
            ever_non_compliant[cluster_id] = ever_non_compliant.get(cluster_id, 0) + count
    ever_workers = Workers()
    for entry in last_assessed.values():
        women, men = workforce_on(workforce.get(entry.factory_id, ()), entry.last_report_date)
        ever_workers += Workers(women, men)
    cumulative = Figures(
        assessments_completed=all_assessments,
        factories_assessed=len(last_assessed),
        workers=ever_workers,
        buyers_participating=len(_ever(participating)),
        buyers_relying=len(_ever(relying)),
        training_participants=sum(entry.participants for entry in training),
        training_completions=sum(entry.completions for entry in training),
        advisory_days=sum((entry.days for entry in advisory), Decimal(0)),
        non_compliance_rate={
            cluster_id: rate(count, all_assessments)
            for cluster_id, count in sorted(ever_non_compliant.items())
        },
    )
    return ResultsTable(country, first, last, table, cumulative)
