"""The programme's results table computed from a bundle's files alone: no service, no database.
It is the independent oracle the end-to-end test holds the results endpoint to
(`GET /v1/programme/results`, docs/programme-results.md): the same definitions, computed again
from the records as the bundle states them.

Reference data beside the files: the courses' training days (a completion is an attendee present
on every training day of the course), from the advisory service's seeded course catalogue
(`tools/history/reference.py`); a session of another course counts no completion. Clusters are
question ids' prefixes; no catalogue is needed.

Definitions, per country and calendar year (a record counts for the country of its factory):
- assessments, factories assessed: by `report_date`; the workforce of each factory assessed in
  the year, in force on its last report date of the year (its first workforce entry in force from
  `registered_on`, each later one from 1 January of its year, the newest one started on or before
  the day counts; none yet: 0); cumulative: each factory once, at its last report;
- buyers participating: a grant in force at least one day of the year (from `granted_on` through
  `ends_on` or the day before `revoked_on`, whichever is first); relying: the same for a
  reliance's period (through `period_end` or the day before `withdrawn_on`);
- training: the attendees of the sessions that ended in the year (`end_date`), and of them those
  who attended every training day; advisory days: the visits' `duration_days` by `visited_on`;
- non-compliance rate per cluster: the share of the year's assessments with at least one
  non-compliant finding in the cluster after the corrections (the latest correction of a question
  replaces its finding's `compliant`), rounded to 4 decimals as Python's `round` does; a cluster
  answered in the year appears, with 0.0 if none was non-compliant;
- the years: from the first to the last year with a fact (an assessment, a session, a visit, a
  day of a grant or a reliance in force), never after the current year; a year between them
  without any fact is a row of zeros.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

from libs.domain.history.advisory import AdvisoryVisitRecord, TrainingSessionRecord
from libs.domain.history.assessment import AssessmentRecord, FactoryRecord
from libs.domain.history.bundle import Manifest, Record, kind
from libs.domain.history.buyer_sharing import GrantRecord, RelianceRecord
from tools.history.reference import cluster_of, courses

R = TypeVar("R", bound=Record)


class NoFacts(Exception):
    """The bundle has no fact of the country programme."""


class BundleError(Exception):
    """A file is not what the manifest says."""


def read(directory: Path, name: str, record: type[R]) -> Iterator[R]:
    """The records of one kind (none if the manifest lists no file for it), checksum checked."""
    manifest = Manifest.model_validate_json((directory / "manifest.json").read_bytes())
    entry = manifest.kinds.get(name)
    if entry is None:
        return
    content = (directory / entry.file).read_bytes()
    if hashlib.sha256(content).hexdigest() != entry.sha256:
        raise BundleError(f"{entry.file}: its SHA-256 is not the manifest's")
    assert kind(name).record is record
    for line in content.splitlines():
        if line.strip():
            yield record.model_validate_json(line)


@dataclass
class Year:
    assessments: int = 0
    last_report: dict[str, date] = field(default_factory=dict)  # factory -> last report date
    answered: set[str] = field(default_factory=set)
    non_compliant: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    participating: set[str] = field(default_factory=set)
    relying: set[str] = field(default_factory=set)
    participants: int = 0
    completions: int = 0
    advisory_days: Fraction = Fraction(0)


def _workforce_on(factory: FactoryRecord, day: date) -> tuple[int, int]:
    in_force = [
        (factory.registered_on if position == 0 else date(entry.year, 1, 1), position, entry)
        for position, entry in enumerate(factory.workforce)
    ]
    started = [fact for fact in in_force if fact[0] <= day]
    if not started:
        return 0, 0
    _, _, entry = max(started, key=lambda fact: (fact[0], fact[1]))
    return entry.women, entry.men


def _years(first: date, last: date, current: int) -> range:
    last_year = min(last.year, current)
    return range(first.year, last_year + 1) if first <= last else range(0)


def results(directory: Path, country: str, today: date | None = None) -> dict[str, Any]:
    """The results table of `country` as the endpoint's JSON document."""
    country = country.upper()
    current = (today or date.today()).year
    factories = {
        factory.source_id: factory
        for factory in read(directory, "factories", FactoryRecord)
        if factory.country == country
    }
    years: dict[int, Year] = defaultdict(Year)
    last_report: dict[str, date] = {}
    for assessment in read(directory, "assessments", AssessmentRecord):
        year = assessment.report_date.year
        if assessment.factory not in factories or year > current:
            continue
        row = years[year]
        row.assessments += 1
        previous = row.last_report.get(assessment.factory)
        row.last_report[assessment.factory] = max(
            previous or assessment.report_date, assessment.report_date
        )
        ever = last_report.get(assessment.factory)
        last_report[assessment.factory] = max(
            ever or assessment.report_date, assessment.report_date
        )
        compliant = {finding.question_id: finding.compliant for finding in assessment.findings}
        for _, _, correction in sorted(
            (correction.corrected_on, position, correction)
            for position, correction in enumerate(assessment.corrections)
        ):
            compliant[correction.question_id] = correction.compliant
        row.answered |= {cluster_of(question) for question in compliant}
        for cluster in {cluster_of(question) for question, ok in compliant.items() if not ok}:
            row.non_compliant[cluster] += 1
    for grant in read(directory, "grants", GrantRecord):
        if grant.factory in factories:
            last = grant.ends_on or date.max
            if grant.revoked_on is not None:
                last = min(last, grant.revoked_on - timedelta(days=1))
            for year in _years(grant.granted_on, last, current):
                years[year].participating.add(grant.buyer)
    for reliance in read(directory, "reliances", RelianceRecord):
        if reliance.factory in factories:
            last = reliance.period_end
            if reliance.withdrawn_on is not None:
                last = min(last, reliance.withdrawn_on - timedelta(days=1))
            for year in _years(reliance.period_start, last, current):
                years[year].relying.add(reliance.buyer)
    training_days = {code: course.training_days for code, course in courses().items()}
    for session in read(directory, "training-sessions", TrainingSessionRecord):
        year = session.end_date.year
        attendees = [a for a in session.attendees if a.factory in factories]
        if year > current or not attendees:
            continue
        years[year].participants += len(attendees)
        days = training_days.get(session.course_code)
        if days is not None:
            years[year].completions += sum(a.days_attended >= days for a in attendees)
    for visit in read(directory, "advisory-visits", AdvisoryVisitRecord):
        if visit.factory in factories and visit.visited_on.year <= current:
            years[visit.visited_on.year].advisory_days += Fraction(visit.duration_days)
    if not years:
        raise NoFacts(f"the bundle has no fact of country programme {country}")
    first_year, last_year = min(years), max(years)
    rows = [
        {"year": year, **_figures(years[year], factories)}
        for year in range(first_year, last_year + 1)
    ]
    return {
        "country": country,
        "first_year": first_year,
        "last_year": last_year,
        "years": rows,
        "cumulative": _cumulative(list(years.values()), factories, last_report),
    }


def _workers(factories: dict[str, FactoryRecord], reports: dict[str, date]) -> dict[str, int]:
    women = men = 0
    for factory, day in reports.items():
        w, m = _workforce_on(factories[factory], day)
        women, men = women + w, men + m
    return {"women": women, "men": men, "total": women + men}


def _rates(answered: set[str], non_compliant: dict[str, int], assessments: int) -> dict[str, float]:
    return {
        cluster: round(non_compliant.get(cluster, 0) / assessments, 4) if assessments else 0.0
        for cluster in sorted(answered)
    }


def _figures(row: Year, factories: dict[str, FactoryRecord]) -> dict[str, Any]:
    return {
        "assessments_completed": row.assessments,
        "factories_assessed": len(row.last_report),
        "workers": _workers(factories, row.last_report),
        "buyers_participating": len(row.participating),
        "buyers_relying": len(row.relying),
        "training_participants": row.participants,
        "training_completions": row.completions,
        "advisory_days": float(row.advisory_days),
        "non_compliance_rate": _rates(row.answered, row.non_compliant, row.assessments),
    }


def _cumulative(
    rows: list[Year], factories: dict[str, FactoryRecord], last_report: dict[str, date]
) -> dict[str, Any]:
    total = Year()
    for row in rows:
        total.assessments += row.assessments
        total.answered |= row.answered
        for cluster, count in row.non_compliant.items():
            total.non_compliant[cluster] += count
        total.participating |= row.participating
        total.relying |= row.relying
        total.participants += row.participants
        total.completions += row.completions
        total.advisory_days += row.advisory_days
    total.last_report = last_report
    return _figures(total, factories)


def render(table: dict[str, Any]) -> str:
    """The table as text, a row per year and the cumulative row."""
    clusters = sorted(table["cumulative"]["non_compliance_rate"])
    header = (
        f"{'year':<10} {'assess.':>7} {'factor.':>7} {'workers':>9} {'women':>7} "
        f"{'buyers':>6} {'relying':>7} {'trained':>7} {'compl.':>7} {'adv.days':>8}  "
        + " ".join(f"{cluster:>5}" for cluster in clusters)
    )
    lines = [f"programme results, {table['country']} {table['first_year']}-{table['last_year']}"]
    lines.append(header)
    for label, row in [(str(row["year"]), row) for row in table["years"]] + [
        ("cumulative", table["cumulative"])
    ]:
        rates = row["non_compliance_rate"]
        lines.append(
            f"{label:<10} {row['assessments_completed']:>7,} {row['factories_assessed']:>7,} "
            f"{row['workers']['total']:>9,} {row['workers']['women']:>7,} "
            f"{row['buyers_participating']:>6} {row['buyers_relying']:>7} "
            f"{row['training_participants']:>7,} {row['training_completions']:>7,} "
            f"{row['advisory_days']:>8,.1f}  "
            + " ".join(
                f"{rates[cluster]:>5.2f}" if cluster in rates else f"{'':>5}"
                for cluster in clusters
            )
        )
    return "\n".join(lines)
