"""Kinds the assessment service imports: factories and completed assessments."""

from __future__ import annotations

from datetime import date
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.domain.history.bundle import SOURCE_ID_PATTERN, Record


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class WorkforceYear(_Part):
    year: int = Field(ge=1990, le=2100)
    women: int = Field(ge=0, le=1_000_000)
    men: int = Field(ge=0, le=1_000_000)


class FactoryRecord(Record):
    """A factory as the programme registered it, with its workforce by year."""

    name: str = Field(min_length=1, max_length=200)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2, upper case.")
    address: str = Field(min_length=1, max_length=500)
    sector_isic: str = Field(default="1410", pattern=r"^\d{2,4}$")
    os_id: str | None = Field(default=None, description="Open Supply Hub ID, if it has one.")
    registered_on: date
    workforce: tuple[WorkforceYear, ...] = Field(
        min_length=1, description="Headcount by year, years ascending, each once."
    )

    @model_validator(mode="after")
    def _years_ascending(self) -> Self:
        years = [entry.year for entry in self.workforce]
        if years != sorted(set(years)):
            raise ValueError("workforce years must be ascending and each given once")
        if years[0] > self.registered_on.year:
            raise ValueError("the workforce must be known from the year of registration")
        return self


class FindingEntry(_Part):
    question_id: str = Field(min_length=1, max_length=40)
    compliant: bool
    evidence: str = Field(default="", max_length=4000)


class CorrectionEntry(_Part):
    """A finding corrected after the report (the assessor's correction)."""

    question_id: str = Field(min_length=1, max_length=40)
    corrected_on: date
    compliant: bool
    reason: str = Field(min_length=1, max_length=2000)


class ResponseEntry(_Part):
    """The factory's response to a finding (a dispute when `disputes`)."""

    question_id: str = Field(min_length=1, max_length=40)
    responded_on: date
    text: str = Field(min_length=1, max_length=4000)
    disputes: bool = False


class AssessmentRecord(Record):
    """A completed assessment with every finding, and what followed: corrections, responses."""

    factory: str = Field(pattern=SOURCE_ID_PATTERN, description="The factory's source id.")
    cycle: int = Field(ge=1, le=100, description="The factory's assessment cycle, from 1.")
    assessed_on: date = Field(description="The (first) day of the assessment visit.")
    report_date: date = Field(description="When the report was completed: business time.")
    catalogue_version: str | None = Field(
        default=None,
        pattern=r"^\d{4}\.\d+$",
        description="The compliance catalogue version; default: the one in force on assessed_on.",
    )
    findings: tuple[FindingEntry, ...] = Field(min_length=1)
    corrections: tuple[CorrectionEntry, ...] = ()
    responses: tuple[ResponseEntry, ...] = ()

    @model_validator(mode="after")
    def _dates_in_order(self) -> Self:
        if self.report_date < self.assessed_on:
            raise ValueError("report_date is before assessed_on")
        questions = [finding.question_id for finding in self.findings]
        if len(set(questions)) != len(questions):
            raise ValueError("a question is answered twice")
        answered = set(questions)
        later = [entry.question_id for entry in self.corrections]
        later += [entry.question_id for entry in self.responses]
        for question in later:
            if question not in answered:
                raise ValueError(f"{question} is not among the findings")
        for correction in self.corrections:
            if correction.corrected_on < self.report_date:
                raise ValueError("a correction is dated before the report")
        for response in self.responses:
            if response.responded_on < self.report_date:
                raise ValueError("a response is dated before the report")
        return self
