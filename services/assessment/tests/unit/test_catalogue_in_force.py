"""Which catalogue version was in force on a day (an imported assessment without a version is
made against it), and the historical versions shipped with the service."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from services.assessment.compliance_catalogue import (
    DEFAULT_CATALOGUE_DIRECTORY,
    CatalogueError,
    NoCatalogueInForce,
    load_library,
)

LIBRARY = load_library()


class TestVersionInForce:
    @pytest.mark.parametrize(
        ("day", "version"),
        [
            (date(2001, 1, 1), "2001.1"),
            (date(2004, 7, 14), "2001.1"),
            (date(2007, 12, 31), "2001.1"),
            (date(2008, 1, 1), "2008.1"),
            (date(2024, 12, 31), "2008.1"),
            (date(2025, 1, 1), "2025.1"),
            (date(9999, 12, 31), "2025.1"),
        ],
    )
    def test_is_the_latest_version_effective_on_or_before_the_day(
        self, day: date, version: str
    ) -> None:
        assert LIBRARY.version_in_force(day) == version

    @pytest.mark.parametrize("day", [date(2000, 12, 31), date(1, 1, 1)])
    def test_there_is_none_before_the_first_version(self, day: date) -> None:
        with pytest.raises(NoCatalogueInForce, match="first from 2001-01-01"):
            LIBRARY.version_in_force(day)

    def test_the_live_api_still_pins_the_latest_version(self) -> None:
        assert LIBRARY.latest_version == "2025.1"
        assert LIBRARY.versions == ["2001.1", "2008.1", "2025.1"]
        assert LIBRARY.effective_from("2008.1") == date(2008, 1, 1)
        assert LIBRARY.effective_from("1999.1") is None


class TestHistoricalVersions:
    @pytest.mark.parametrize(("older", "newer"), [("2001.1", "2008.1"), ("2008.1", "2025.1")])
    def test_each_is_a_subset_of_the_next_with_the_same_ids_and_questions(
        self, older: str, newer: str
    ) -> None:
        before, after = LIBRARY.exact(older, None), LIBRARY.exact(newer, None)
        assert before is not None and after is not None
        earlier = list(before.questions())
        assert len(earlier) < len(list(after.questions()))
        for entry in earlier:
            later = after.question(entry.question.id)
            assert later is not None and later.question == entry.question
            assert (later.point.id, later.cluster.id) == (entry.point.id, entry.cluster.id)
            assert entry.question.id.startswith(entry.cluster.id + "-")

    def test_the_first_version_has_fewer_critical_questions(self) -> None:
        first = LIBRARY.exact("2001.1", None)
        assert first is not None
        assert 0 < len(first.critical_question_ids) < 21
        assert first.question("OSH-CHE-01") is None  # chemicals came with 2008.1

    def test_cambodia_has_its_wording_in_every_version(self) -> None:
        for version in LIBRARY.versions:
            cambodia, base = LIBRARY.exact(version, "KH"), LIBRARY.exact(version, None)
            assert cambodia is not None and base is not None
            minimum = cambodia.question("COM-MIN-01")
            assert minimum is not None and "prakas" in minimum.question.text
        assert LIBRARY.resolve("2001.1", "BD") == LIBRARY.exact("2001.1", None)


class TestEffectiveDatesAtStartUp:
    def test_a_later_version_must_take_effect_later(self, tmp_path: Path) -> None:
        directory = tmp_path / "catalogue"
        shutil.copytree(DEFAULT_CATALOGUE_DIRECTORY, directory)
        base_path = directory / "2008.1" / "base.json"
        base = json.loads(base_path.read_text())
        base["effective_from"] = "2001-01-01"
        base_path.write_text(json.dumps(base))
        with pytest.raises(CatalogueError, match=r"2008\.1 takes effect on 2001-01-01"):
            load_library(directory)

    def test_every_version_says_when_it_took_effect(self, tmp_path: Path) -> None:
        directory = tmp_path / "catalogue"
        shutil.copytree(DEFAULT_CATALOGUE_DIRECTORY, directory)
        base_path = directory / "2001.1" / "base.json"
        base = json.loads(base_path.read_text())
        del base["effective_from"]
        base_path.write_text(json.dumps(base))
        with pytest.raises(CatalogueError, match="effective_from"):
            load_library(directory)
