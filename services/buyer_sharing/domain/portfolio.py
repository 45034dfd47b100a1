"""A buyer's portfolio, pure: each shared factory's latest report, its change since the previous
one, its open issues and improvement-plan progress, and the risk order (docs/buyer_sharing.md).

Risk, highest first: open zero-tolerance issues, then open critical issues, then overdue plan
items, then the latest report's non-compliance rate; ties by factory id. An issue is open while
the latest report finds the question non-compliant (corrections applied) and the remediation
service has not verified its plan item.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

SortOrder = Literal["risk", "factory_id"]
# rates travel in cursors as integers (parts per million)
PPM = 1_000_000


def overall_rate(summary: Sequence[Mapping[str, Any]]) -> float:
    """Non-compliant questions over answered ones, across the clusters of a report."""
    questions = sum(int(cluster["questions"]) for cluster in summary)
    non_compliant = sum(int(cluster["non_compliant"]) for cluster in summary)
    return non_compliant / questions if questions else 0.0


def cluster_changes(
    latest: Sequence[Mapping[str, Any]], previous: Sequence[Mapping[str, Any]] | None
) -> list[dict[str, Any]]:
    """Each cluster of the latest report with its rate and the change since the previous one."""
    before = {cluster["cluster_id"]: float(cluster["rate"]) for cluster in previous or ()}
    return [
        {
            "cluster_id": cluster["cluster_id"],
            "cluster_name": cluster.get("cluster_name", ""),
            "rate": float(cluster["rate"]),
            "change": (
                round(float(cluster["rate"]) - before[cluster["cluster_id"]], 6)
                if cluster["cluster_id"] in before
                else None
            ),
        }
        for cluster in latest
    ]


@dataclass(frozen=True)
class Entry:
    """One row of the portfolio, as the risk order and the filters see it."""

    factory_id: str
    country: str
    open_zero_tolerance: int
    open_critical: int
    overdue: int
    rate: float
    row: Mapping[str, Any]

    def sort_key(self, order: SortOrder) -> tuple[Any, ...]:
        if order == "factory_id":
            return (self.factory_id,)
        return (
            -self.open_zero_tolerance,
            -self.open_critical,
            -self.overdue,
            -round(self.rate * PPM),
            self.factory_id,
        )

    def position(self, order: SortOrder) -> dict[str, Any]:
        """The cursor position after this entry."""
        if order == "factory_id":
            return {"factory_id": self.factory_id}
        return {
            "zero_tolerance": self.open_zero_tolerance,
            "critical": self.open_critical,
            "overdue": self.overdue,
            "rate": round(self.rate * PPM),
            "factory_id": self.factory_id,
        }


def position_fields(order: SortOrder) -> dict[str, type]:
    if order == "factory_id":
        return {"factory_id": str}
    return {
        "zero_tolerance": int,
        "critical": int,
        "overdue": int,
        "rate": int,
        "factory_id": str,
    }


def key_of_position(order: SortOrder, position: Mapping[str, Any]) -> tuple[Any, ...]:
    if order == "factory_id":
        return (position["factory_id"],)
    return (
        -position["zero_tolerance"],
        -position["critical"],
        -position["overdue"],
        -position["rate"],
        position["factory_id"],
    )


def select(
    entries: Iterable[Entry],
    *,
    country: str | None = None,
    open_critical: bool | None = None,
    overdue: bool | None = None,
    order: SortOrder = "risk",
    after: Mapping[str, Any] | None = None,
    limit: int | None = None,
) -> tuple[list[Entry], Entry | None]:
    """Filter, sort and page: the page's entries, and the last one if more follow."""
    chosen = [
        entry
        for entry in entries
        if (country is None or entry.country == country)
        and (open_critical is None or (entry.open_critical > 0) == open_critical)
        and (overdue is None or (entry.overdue > 0) == overdue)
    ]
    chosen.sort(key=lambda entry: entry.sort_key(order))
    if after is not None:
        start = key_of_position(order, after)
        chosen = [entry for entry in chosen if entry.sort_key(order) > start]
    if limit is None or len(chosen) <= limit:
        return chosen, None
    page = chosen[:limit]
    return page, page[-1]
