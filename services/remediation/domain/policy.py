"""The due-date policy: days from an assessment report to an item's deadline and to the plan's
first publication (configured per deployment, see settings.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DueDatePolicy:
    """Days from the assessment report to an item's deadline, by severity, and to first publication."""

    zero_tolerance_days: int = 7
    critical_days: int = 30
    other_days: int = 90
    publication_days: int = 30

    def days_for(self, *, critical: bool, zero_tolerance: bool) -> int:
        if zero_tolerance:
            return self.zero_tolerance_days
        return self.critical_days if critical else self.other_days
