"""The Better Factories Cambodia public reporting rules, pure (docs/buyer_sharing.md):

- a factory is published once it has at least two completed assessments, with its compliance on
  each critical issue from its newest report (the newest replaces the older);
- the low-compliance list: factories with at least three completed assessments whose overall
  compliance, in a calendar year, is MORE than two standard deviations below the mean of their
  country's factories in that year (exactly two is not listed). Overall compliance of a factory in
  a year is that of its newest report of the year: compliant questions over answered ones (not
  applicable ones left out). Mean and population standard deviation are over every factory of the
  country with a report in that year. The comparison is exact (rational arithmetic), so a factory
  exactly on the line is never listed because of rounding.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

MIN_ASSESSMENTS_PUBLISHED = 2
MIN_ASSESSMENTS_LOW_COMPLIANCE = 3
STANDARD_DEVIATIONS = 2


@dataclass(frozen=True)
class CompletedReport:
    factory_id: str
    country: str
    assessment_id: str
    cycle: int
    report_date: date
    compliant: int
    answered: int


@dataclass(frozen=True)
class LowCompliance:
    factory_id: str
    country: str
    year: int
    assessment_id: str
    compliance: float
    country_mean: float
    country_standard_deviation: float
    factories_in_country: int


def published(assessments: int) -> bool:
    return assessments >= MIN_ASSESSMENTS_PUBLISHED


def newest(reports: Iterable[CompletedReport]) -> CompletedReport:
    return max(reports, key=lambda report: (report.report_date, report.cycle))


def low_compliance(
    reports: Iterable[CompletedReport], *, country: str | None = None, year: int | None = None
) -> list[LowCompliance]:
    """The low-compliance list per country and calendar year (filtered when given)."""
    every = [report for report in reports if report.answered > 0]
    completed_by_factory: dict[str, list[CompletedReport]] = defaultdict(list)
    for report in every:
        completed_by_factory[report.factory_id].append(report)
    groups: dict[tuple[str, int], dict[str, CompletedReport]] = defaultdict(dict)
    for report in every:
        group = groups[(report.country, report.report_date.year)]
        current = group.get(report.factory_id)
        if current is None or (report.report_date, report.cycle) > (
            current.report_date,
            current.cycle,
        ):
            group[report.factory_id] = report
    listed = []
    for (group_country, group_year), latest in sorted(groups.items()):
        if (country is not None and group_country != country) or (
            year is not None and group_year != year
        ):
            continue
        values = {
            factory_id: Fraction(report.compliant, report.answered)
            for factory_id, report in latest.items()
        }
        count = len(values)
        mean = sum(values.values(), Fraction(0)) / count
        variance = sum(((value - mean) ** 2 for value in values.values()), Fraction(0)) / count
        for factory_id, value in sorted(values.items()):
            assessments = sum(
                1
                for report in completed_by_factory[factory_id]
                if report.report_date.year <= group_year
            )
            gap = mean - value
            # value < mean - k·sd  ⇔  gap > 0 and gap² > k²·variance (exact)
            if (
                assessments >= MIN_ASSESSMENTS_LOW_COMPLIANCE
                and gap > 0
                and gap * gap > STANDARD_DEVIATIONS**2 * variance
            ):
                report = latest[factory_id]
                listed.append(
                    LowCompliance(
                        factory_id=factory_id,
                        country=group_country,
                        year=group_year,
                        assessment_id=report.assessment_id,
                        compliance=float(value),
                        country_mean=float(mean),
                        country_standard_deviation=float(variance) ** 0.5,
                        factories_in_country=count,
                    )
                )
    return listed
