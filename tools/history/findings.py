"""An assessment's findings as the generator draws them: per cluster, the share of assessments
with at least one non-compliance falls from the programme's first years to its tenth (OSH and
working time stay high, child and forced labour are rare), and each factory sits above or below
the programme by its own quality; then the few corrections and the factory's responses. Pure."""

from __future__ import annotations

import random
from datetime import date, timedelta
from functools import cache
from typing import Any

from tools.history.reference import QuestionRef

# The share of assessments with a non-compliance in the cluster, in 2001 and in 2010 (between
# them, by the year, in a straight line).
CLUSTER_RATES: dict[str, tuple[float, float]] = {
    "CHL": (0.10, 0.02),
    "FOR": (0.05, 0.01),
    "DIS": (0.35, 0.15),
    "FOA": (0.45, 0.25),
    "COM": (0.80, 0.45),
    "CON": (0.70, 0.40),
    "OSH": (0.97, 0.85),
    "WT": (0.85, 0.60),
}
OTHER_CLUSTER = (0.30, 0.15)
FIRST_CYCLE = 1.25  # a factory's first assessment finds more than the next ones
CORRECTED = 0.04  # the share of assessments with a corrected finding
RESPONDED = 0.15  # the share of non-compliances the factory responds to
DISPUTED = 0.02  # ... and disputes

EVIDENCE = {
    "CHL": "A worker under 15 was found on the finishing line; age documents were missing.",
    "FOR": "Workers said overtime could not be refused without a deduction from wages.",
    "DIS": "Pregnant workers' contracts were not renewed; interviews and records agree.",
    "FOA": "Union representatives were transferred after the union registered.",
    "COM": "Overtime was paid at the normal rate for three months of the payroll reviewed.",
    "CON": "Fixed-duration contracts were renewed beyond two years without a change to UDC.",
    "OSH": "Emergency exits were blocked by cartons; no machine guards on several needles.",
    "WT": "Overtime exceeded two hours a day on most days of the month reviewed.",
}
CORRECTED_TO_COMPLIANT = "Records received after the visit show the requirement was met."
CORRECTED_TO_NON_COMPLIANT = "Payroll records for three further months reviewed after the visit."
RESPONSES = (
    "Acknowledged; the committee has put it on its plan.",
    "We have started to act on this finding and will report progress to the committee.",
    "Noted. The responsible manager has been named and the action is under way.",
)
DISPUTE = "We disagree: the records attached show the requirement was met at the time."


def cluster_rate(cluster: str, year: int) -> float:
    first, last = CLUSTER_RATES.get(cluster, OTHER_CLUSTER)
    progress = min(1.0, max(0.0, (year - 2001) / 9))
    return first + (last - first) * progress


def _weight(question: QuestionRef) -> float:
    if question.zero_tolerance:
        return 0.25
    return 0.6 if question.critical else 1.0


@cache
def question_rates(questions: tuple[QuestionRef, ...], year: int) -> dict[str, float]:
    """Each question's probability of a non-compliance in `year`, so that the share of
    assessments with one in each cluster is `cluster_rate` (critical questions less often)."""
    by_cluster: dict[str, list[QuestionRef]] = {}
    for question in questions:
        by_cluster.setdefault(question.cluster, []).append(question)
    rates: dict[str, float] = {}
    for cluster, members in by_cluster.items():
        target = cluster_rate(cluster, year)
        low, high = 0.0, 1.0
        for _ in range(40):  # bisection: 1 - prod(1 - w p) = target
            middle = (low + high) / 2
            none = 1.0
            for question in members:
                none *= 1 - min(1.0, _weight(question) * middle)
            low, high = (middle, high) if 1 - none < target else (low, middle)
        for question in members:
            rates[question.id] = min(1.0, _weight(question) * low)
    return rates


def draw_findings(
    rng: random.Random, questions: tuple[QuestionRef, ...], year: int, factor: float
) -> dict[str, bool]:
    """Every question answered: question id -> compliant."""
    rates = question_rates(questions, year)
    return {
        question.id: rng.random() >= min(0.95, rates[question.id] * factor)
        for question in questions
    }


def assessment_record(
    rng: random.Random,
    *,
    source_id: str,
    factory: str,
    cycle: int,
    assessed_on: date,
    report_date: date,
    catalogue_version: str,
    findings: dict[str, bool],
    last_day: date,
) -> tuple[dict[str, Any], dict[str, bool]]:
    """The record, and the findings as corrected (question id -> compliant)."""
    corrections: list[dict[str, Any]] = []
    corrected = dict(findings)
    evidenced: set[str] = set()
    corrected_on = report_date + timedelta(days=rng.randint(3, 40))
    if rng.random() < CORRECTED and corrected_on <= last_day:
        non_compliant = [question for question, compliant in findings.items() if not compliant]
        if non_compliant and rng.random() < 0.75:
            question = rng.choice(non_compliant)
            corrected[question] = True
            reason = CORRECTED_TO_COMPLIANT
        else:
            question = rng.choice(sorted(findings))
            corrected[question] = not findings[question]
            reason = CORRECTED_TO_NON_COMPLIANT if findings[question] else CORRECTED_TO_COMPLIANT
            evidenced.add(question)
        corrections.append(
            {
                "question_id": question,
                "corrected_on": corrected_on.isoformat(),
                "compliant": corrected[question],
                "reason": reason,
            }
        )
    responses: list[dict[str, Any]] = []
    for question, compliant in findings.items():
        if compliant or rng.random() >= RESPONDED:
            continue
        responded_on = report_date + timedelta(days=rng.randint(1, 30))
        if responded_on > last_day:
            continue
        disputes = rng.random() < DISPUTED / RESPONDED
        responses.append(
            {
                "question_id": question,
                "responded_on": responded_on.isoformat(),
                "text": DISPUTE if disputes else rng.choice(RESPONSES),
                "disputes": disputes,
            }
        )
    record = {
        "source_id": source_id,
        "factory": factory,
        "cycle": cycle,
        "assessed_on": assessed_on.isoformat(),
        "report_date": report_date.isoformat(),
        "catalogue_version": catalogue_version,
        "findings": [
            _finding(question, compliant, question in evidenced)
            for question, compliant in findings.items()
        ],
        "corrections": corrections,
        "responses": responses,
    }
    return record, corrected


def _finding(question: str, compliant: bool, evidenced: bool) -> dict[str, Any]:
    if compliant and not evidenced:
        return {"question_id": question, "compliant": True}
    evidence = (
        "Documents and interviews were consistent at the visit."
        if compliant
        else EVIDENCE.get(
            question.split("-", 1)[0], "Observed on site and confirmed in interviews."
        )
    )
    return {"question_id": question, "compliant": compliant, "evidence": evidence}
