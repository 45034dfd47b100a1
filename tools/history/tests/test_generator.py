"""The generator writes a valid bundle of the seed's programme: its manifest holds every file's
checksum and count, every line is a valid record, the same seed writes the same bytes, and the
results table computed from its files has the seed's shape (BFC 2001-2010)."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bench.seed import history_arguments
from bench.seed import main as seed_main
from libs.domain.history.bundle import FORMAT, Manifest, kinds
from tools.history.expected import results
from tools.history.generate import Generated, generate
from tools.history.shape import HISTORY, PROGRAMME

TODAY = date(2026, 12, 8)


def rows(table: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {row["year"]: row for row in table["years"]}


class TestTheBundle:
    def test_the_manifest_names_every_file_with_its_checksum_and_count(
        self, history: tuple[Path, Generated]
    ) -> None:
        directory, generated = history
        manifest = Manifest.model_validate_json((directory / "manifest.json").read_bytes())
        assert manifest == generated.manifest
        assert manifest.format == FORMAT
        assert manifest.country == "KH"
        assert manifest.bundle_id == "KH-history-seed1"
        for kind in kinds():
            entry = manifest.kinds[kind.name]
            content = (directory / entry.file).read_bytes()
            assert entry.file == kind.file
            assert hashlib.sha256(content).hexdigest() == entry.sha256
            assert content.count(b"\n") == entry.records > 0
            assert content.endswith(b"\n")

    def test_every_line_is_a_valid_record_with_a_source_id_unique_in_its_kind(
        self, history: tuple[Path, Generated]
    ) -> None:
        directory, _ = history
        for kind in kinds():
            seen: set[str] = set()
            for line in (directory / kind.file).read_bytes().splitlines():
                record = kind.record.model_validate_json(line)
                assert record.source_id not in seen, f"{kind.name}: {record.source_id} twice"
                seen.add(record.source_id)

    def test_the_same_seed_writes_the_same_bytes_and_another_seed_another_bundle(
        self, history: tuple[Path, Generated], tmp_path: Path
    ) -> None:
        directory, generated = history
        again = generate(tmp_path / "again", HISTORY, seed=1)
        assert again.manifest.checksum() == generated.manifest.checksum()
        for kind in kinds():
            assert (tmp_path / "again" / kind.file).read_bytes() == (
                directory / kind.file
            ).read_bytes()
        other = generate(tmp_path / "other", HISTORY.with_factories(40), seed=2)
        same_size = generate(tmp_path / "same", HISTORY.with_factories(40), seed=3)
        assert other.manifest.checksum() != same_size.manifest.checksum()


@pytest.fixture(scope="module")
def table(history: tuple[Path, Generated]) -> dict[str, Any]:
    return results(history[0], "KH", today=TODAY)


class TestTheShapeOfTheSeedsProgramme:
    """The seed's table of results (Better Factories Cambodia), from the bundle's files."""

    def test_it_spans_2001_to_2010(self, table: dict[str, Any]) -> None:
        assert (table["first_year"], table["last_year"]) == (2001, 2010)
        assert sorted(rows(table)) == list(range(2001, 2011))

    def test_more_than_2500_assessments_about_yearly_with_new_factories_each_year(
        self, table: dict[str, Any]
    ) -> None:
        by_year = rows(table)
        assert table["cumulative"]["assessments_completed"] > 2_500
        counts = [by_year[year]["factories_assessed"] for year in range(2001, 2011)]
        assert counts == sorted(counts), "the programme grows"
        for year in range(2001, 2011):
            row = by_year[year]
            # about once a year: a few factories twice in a year
            assert row["factories_assessed"] <= row["assessments_completed"]
            assert row["assessments_completed"] <= 1.05 * row["factories_assessed"]

    def test_the_workforce_grows_from_100000_to_more_than_300000_mostly_women(
        self, table: dict[str, Any]
    ) -> None:
        by_year = rows(table)
        assert 95_000 <= by_year[2001]["workers"]["total"] <= 105_000
        assert by_year[2009]["workers"]["total"] > 300_000
        assert by_year[2010]["workers"]["total"] > 300_000
        for row in [*by_year.values(), table["cumulative"]]:
            workers = row["workers"]
            assert workers["women"] + workers["men"] == workers["total"]
            assert 0.85 <= workers["women"] / workers["total"] <= 0.90

    def test_buyers_relying_6_in_2006_to_31_in_2010_and_37_participating_in_2010(
        self, table: dict[str, Any]
    ) -> None:
        by_year = rows(table)
        relying = [by_year[year]["buyers_relying"] for year in range(2001, 2011)]
        assert relying == [0, 0, 0, 0, 0, 6, 12, 19, 25, 31]
        participating = [by_year[year]["buyers_participating"] for year in range(2001, 2011)]
        assert participating[-1] == 37
        assert participating == sorted(participating)
        assert table["cumulative"]["buyers_participating"] == 42  # 5 left before 2010
        assert table["cumulative"]["buyers_relying"] == 31

    def test_more_than_9000_training_participants_since_2004(self, table: dict[str, Any]) -> None:
        by_year = rows(table)
        assert all(by_year[year]["training_participants"] == 0 for year in (2001, 2002, 2003))
        since_2004 = sum(by_year[year]["training_participants"] for year in range(2004, 2011))
        assert since_2004 == table["cumulative"]["training_participants"] > 9_000
        completions = table["cumulative"]["training_completions"]
        assert 0.8 * since_2004 <= completions < since_2004

    def test_advisory_visits_every_year_from_2003(self, table: dict[str, Any]) -> None:
        by_year = rows(table)
        assert by_year[2002]["advisory_days"] == 0.0
        assert all(by_year[year]["advisory_days"] > 100 for year in range(2003, 2011))

    def test_non_compliance_falls_and_osh_and_working_time_stay_far_above_child_labour(
        self, table: dict[str, Any]
    ) -> None:
        by_year = rows(table)
        first, last = by_year[2001]["non_compliance_rate"], by_year[2010]["non_compliance_rate"]
        assert set(first) == set(last) == {"CHL", "COM", "CON", "DIS", "FOA", "FOR", "OSH", "WT"}
        assert sum(last.values()) < 0.8 * sum(first.values())
        for cluster in ("COM", "DIS", "FOA", "WT"):
            assert last[cluster] < first[cluster], cluster
        for row in [*by_year.values(), table["cumulative"]]:
            rates = row["non_compliance_rate"]
            assert min(rates["OSH"], rates["WT"]) > 3 * max(rates["CHL"], rates["FOR"])
        assert table["cumulative"]["non_compliance_rate"]["OSH"] > 0.8
        assert table["cumulative"]["non_compliance_rate"]["FOR"] < 0.05


class TestSmallerAndBenchmarkScales:
    def test_fewer_factories_still_span_2001_to_2010_with_the_buyers_figures(
        self, small_history: tuple[Path, Generated]
    ) -> None:
        table = results(small_history[0], "KH", today=TODAY)
        by_year = rows(table)
        assert (table["first_year"], table["last_year"]) == (2001, 2010)
        assert small_history[1].records["factories"] == 40
        assert by_year[2006]["buyers_relying"] == 6
        assert by_year[2010]["buyers_relying"] == 31
        assert by_year[2010]["buyers_participating"] == 37
        assert 100 < table["cumulative"]["assessments_completed"] < 400

    def test_the_benchmark_programme_assesses_every_factory_five_times(
        self, tmp_path: Path
    ) -> None:
        shape = PROGRAMME.with_factories(30)
        generated = generate(tmp_path, shape, seed=1)
        assert generated.records["factories"] == 30
        assert generated.records["assessments"] == 150
        assert generated.manifest.bundle_id == "KHP-programme-seed1"
        table = results(tmp_path, "KH", today=TODAY)
        assert (table["first_year"], table["last_year"]) == (2006, 2010)
        assert table["cumulative"]["factories_assessed"] == 30

    def test_the_full_benchmark_shape_is_2000_factories_by_5_cycles(self) -> None:
        assert PROGRAMME.factories == 2_000
        assert PROGRAMME.cycles == 5


class TestTheSeedCommand:
    def test_seed_history_dispatches_to_the_generator(self, tmp_path: Path) -> None:
        assert history_arguments(["--history", "out", "--seed", "3"]) == [
            "generate",
            "out",
            "--seed",
            "3",
        ]
        assert history_arguments(["--scale", "programme", "--history=out"]) == [
            "generate",
            "out",
            "--scale",
            "programme",
        ]
        assert history_arguments(["--scale", "quick"]) is None
        assert seed_main(["--history", str(tmp_path), "--factories", "12", "--seed", "5"]) == 0
        manifest = Manifest.model_validate_json((tmp_path / "manifest.json").read_bytes())
        assert manifest.bundle_id == "KH-history-seed5"
        assert manifest.kinds["factories"].records == 12

    def test_a_programme_without_factories_is_refused(self) -> None:
        with pytest.raises(ValueError, match="at least one factory"):
            HISTORY.with_factories(0)
