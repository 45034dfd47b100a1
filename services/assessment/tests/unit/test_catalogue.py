"""The compliance catalogue files: shape, flags, country variants and start-up validation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from services.assessment.compliance_catalogue import (
    DEFAULT_CATALOGUE_DIRECTORY,
    CatalogueError,
    load_library,
)

CLUSTERS = {
    "Child Labour",
    "Discrimination",
    "Forced Labour",
    "Freedom of Association and Collective Bargaining",
    "Compensation",
    "Contracts and Human Resources",
    "Occupational Safety and Health",
    "Working Time",
}


class TestShippedCatalogue:
    def test_has_the_eight_clusters_with_points_of_two_or_more_questions(self) -> None:
        library = load_library()
        for version in library.versions:
            for country in [None, *library.countries(version)]:
                catalogue = library.exact(version, country)
                assert catalogue is not None
                assert {cluster.name for cluster in catalogue.clusters} == CLUSTERS
                for cluster in catalogue.clusters:
                    assert all(len(point.questions) >= 2 for point in cluster.points)

    def test_flags_the_21_critical_issues_and_the_zero_tolerance_ones(self) -> None:
        library = load_library()
        base = library.exact(library.latest_version, None)
        assert base is not None
        assert len(base.critical_question_ids) == 21
        zero_tolerance = {e.question.id for e in base.questions() if e.question.zero_tolerance}
        assert zero_tolerance == {
            "CHL-CHI-01",
            "FOR-BON-01",
            "FOR-COE-01",
            "DIS-GEN-04",
            "OSH-WPR-03",
        }

    def test_country_variants_differ_in_working_conditions_only(self) -> None:
        library = load_library()
        version = library.latest_version
        base, cambodia, bangladesh = (library.exact(version, c) for c in (None, "KH", "BD"))
        assert base and cambodia and bangladesh
        entries = [c.question("COM-MIN-01") for c in (base, cambodia, bangladesh)]
        minimum_wage = {entry.question.text for entry in entries if entry is not None}
        assert len(minimum_wage) == 3
        assert cambodia.question("CON-TER-KH01") is not None
        assert bangladesh.question("CON-TER-KH01") is None
        core = ("CHL", "DIS", "FOR", "FOA")
        for catalogue in (cambodia, bangladesh):
            for cluster_id in core:
                assert [c for c in catalogue.clusters if c.id == cluster_id] == [
                    c for c in base.clusters if c.id == cluster_id
                ]

    def test_a_country_without_a_variant_gets_the_base_catalogue(self) -> None:
        library = load_library()
        resolved = library.resolve(library.latest_version, "VN")
        assert resolved is not None and resolved.country is None


def _copy_catalogue(tmp_path: Path) -> Path:
    target = tmp_path / "catalogue"
    shutil.copytree(DEFAULT_CATALOGUE_DIRECTORY, target)
    return target


class TestStartUpValidation:
    def test_rejects_a_duplicate_question_id(self, tmp_path: Path) -> None:
        # given a base catalogue where two questions share an id
        directory = _copy_catalogue(tmp_path)
        base_path = directory / "2025.1" / "base.json"
        base = json.loads(base_path.read_text())
        questions = base["clusters"][0]["points"][0]["questions"]
        questions[1]["id"] = questions[0]["id"]
        base_path.write_text(json.dumps(base))
        # when it is loaded, then start-up fails
        with pytest.raises(CatalogueError, match="duplicate id CHL-CHI-01"):
            load_library(directory)

    def test_rejects_a_question_whose_id_names_another_point(self, tmp_path: Path) -> None:
        directory = _copy_catalogue(tmp_path)
        base_path = directory / "2025.1" / "base.json"
        base = json.loads(base_path.read_text())
        base["clusters"][0]["points"][0]["questions"][0]["id"] = "CHL-DOC-09"
        base_path.write_text(json.dumps(base))
        with pytest.raises(CatalogueError, match="not in point CHL-CHI"):
            load_library(directory)

    def test_rejects_a_variant_adding_to_an_unknown_point(self, tmp_path: Path) -> None:
        directory = _copy_catalogue(tmp_path)
        variant_path = directory / "2025.1" / "kh.json"
        variant = json.loads(variant_path.read_text())
        variant["add"][0]["point_id"] = "COM-XYZ"
        variant["add"][0]["question"]["id"] = "COM-XYZ-01"
        variant_path.write_text(json.dumps(variant))
        with pytest.raises(CatalogueError, match="unknown ids: COM-XYZ"):
            load_library(directory)

    def test_rejects_a_variant_that_changes_a_core_labour_standard(self, tmp_path: Path) -> None:
        directory = _copy_catalogue(tmp_path)
        variant_path = directory / "2025.1" / "bd.json"
        variant = json.loads(variant_path.read_text())
        variant["remove"] = ["CHL-CHI-02"]
        variant_path.write_text(json.dumps(variant))
        with pytest.raises(CatalogueError, match="core labour standard"):
            load_library(directory)

    def test_rejects_a_file_missing_a_field(self, tmp_path: Path) -> None:
        directory = _copy_catalogue(tmp_path)
        base_path = directory / "2025.1" / "base.json"
        base = json.loads(base_path.read_text())
        del base["clusters"][0]["points"][0]["questions"][0]["critical"]
        base_path.write_text(json.dumps(base))
        with pytest.raises(CatalogueError, match="critical"):
            load_library(directory)
