"""The history bundle's public format (`libs/domain/history`): identifiers derived from source
ids are stable, the manifest's checksum is canonical, digests ignore how a line was written, the
kinds come in import order, and every record model refuses what the programme's past cannot be
(an end before a start, a finding twice, a committee of one side), whatever JSON it is given."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from libs.domain.history.advisory import AdvisoryVisitRecord, TrainingSessionRecord
from libs.domain.history.assessment import AssessmentRecord, FactoryRecord
from libs.domain.history.bundle import (
    FORMAT,
    HISTORY_NAMESPACE,
    Manifest,
    Record,
    at_noon,
    canonical,
    digest,
    imported_id,
    kind,
    kinds,
)
from libs.domain.history.buyer_sharing import BuyerRecord, GrantRecord, RelianceRecord
from libs.domain.history.remediation import CommitteeRecord, PlanItemRecord
from tools.hostile import ANY_JSON, ANY_VALUE

ROOT = Path(__file__).resolve().parents[3]

# one valid record of every kind; each test changes what it is about
VALID: dict[str, dict[str, Any]] = {
    "factories": {
        "source_id": "KH-F-00012",
        "name": "Angkor Garments",
        "country": "KH",
        "address": "Street 2004, Phnom Penh",
        "registered_on": "2001-03-01",
        "workforce": [
            {"year": 2001, "women": 800, "men": 150},
            {"year": 2002, "women": 900, "men": 160},
        ],
    },
    "assessments": {
        "source_id": "KH-A-00001",
        "factory": "KH-F-00012",
        "cycle": 1,
        "assessed_on": "2002-05-06",
        "report_date": "2002-05-20",
        "findings": [
            {"question_id": "osh-1", "compliant": False, "evidence": "blocked exit"},
            {"question_id": "wages-1", "compliant": True},
        ],
        "corrections": [
            {
                "question_id": "wages-1",
                "corrected_on": "2002-06-01",
                "compliant": False,
                "reason": "payroll seen later",
            }
        ],
        "responses": [{"question_id": "osh-1", "responded_on": "2002-05-20", "text": "cleared it"}],
    },
    "buyers": {
        "source_id": "B-001",
        "name": "A Buyer",
        "country": "US",
        "contact_name": "Ada",
        "contact_email": "ada@buyer.example",
        "joined_on": "2003-01-01",
    },
    "committees": {
        "source_id": "KH-C-1",
        "factory": "KH-F-00012",
        "established_on": "2002-07-01",
        "members": [
            {"name": "M. Manager", "side": "management"},
            {"name": "W. Worker", "side": "worker", "position": "sewer"},
        ],
        "meetings": [{"held_on": "2002-07-01", "endorses_plan": True}],
    },
    "plan-items": {
        "source_id": "KH-P-1",
        "assessment": "KH-A-00001",
        "question_id": "osh-1",
        "due_date": "2002-08-01",
        "status_history": [
            {"status": "in_progress", "on": "2002-06-01", "by": "factory"},
            {"status": "done", "on": "2002-06-01", "by": "factory"},
            {"status": "verified", "on": "2002-09-01", "by": "assessor"},
        ],
    },
    "grants": {
        "source_id": "G-1",
        "buyer": "B-001",
        "factory": "KH-F-00012",
        "granted_on": "2004-01-01",
        "ends_on": "2004-01-01",
    },
    "reliances": {
        "source_id": "R-1",
        "buyer": "B-001",
        "factory": "KH-F-00012",
        "assessment": "KH-A-00001",
        "declared_on": "2006-02-01",
        "period_start": "2006-01-01",
        "period_end": "2006-12-31",
    },
    "training-sessions": {
        "source_id": "T-1",
        "course_code": "OSH-101",
        "factories": ["KH-F-00012", "KH-F-00013"],
        "start_date": "2005-03-01",
        "end_date": "2005-03-02",
        "attendees": [
            {"factory": "KH-F-00012", "role": "worker", "gender": "female", "days_attended": 2},
            {"factory": "KH-F-00013", "role": "manager", "gender": "male", "days_attended": 1},
        ],
    },
    "advisory-visits": {
        "source_id": "V-1",
        "factory": "KH-F-00012",
        "visited_on": "2005-04-01",
        "duration_days": 1.5,
        "purpose": "committee_support",
    },
}


def record_of(name: str, **changes: Any) -> dict[str, Any]:
    return {**json.loads(json.dumps(VALID[name])), **changes}


def refused(model: type[Record], value: dict[str, Any]) -> str:
    """The validation error's messages (the test fails if the value is accepted)."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate(value)
    return " | ".join(str(error["msg"]) for error in caught.value.errors())


class TestImportedId:
    def test_is_the_version_5_uuid_of_kind_and_source_id_in_the_history_namespace(self) -> None:
        expected = uuid.uuid5(uuid.UUID(HISTORY_NAMESPACE), "factories:KH-F-00012")
        assert imported_id("factories", "KH-F-00012") == str(expected)
        assert uuid.UUID(imported_id("factories", "KH-F-00012")).version == 5

    def test_is_pinned_so_that_every_service_and_every_release_derives_the_same_one(
        self,
    ) -> None:
        # services keep these ids in their streams and tables: a change would import a
        # programme's past a second time under new ids
        assert imported_id("factories", "KH-F-00012") == "8c3452c3-e144-503c-a974-314b8397bde9"

    def test_differs_by_kind_and_by_source_id(self) -> None:
        ids = {
            imported_id(kind_name, source)
            for kind_name in ("factories", "assessments", "buyers")
            for source in ("KH-1", "KH-2", "kh-1")
        }
        assert len(ids) == 9

    @settings(max_examples=200, deadline=None)
    @given(st.text(max_size=40), st.text(max_size=120))
    def test_any_kind_and_source_id_give_one_uuid_again_and_again(
        self, kind_name: str, source: str
    ) -> None:
        first = imported_id(kind_name, source)
        assert first == imported_id(kind_name, source)
        assert str(uuid.UUID(first)) == first


MANIFEST: dict[str, Any] = {
    "format": FORMAT,
    "bundle_id": "kh-history-2001-2010",
    "programme": "Better Factories Cambodia",
    "country": "KH",
    "created_at": "2026-12-01T08:00:00Z",
    "description": "Ten years, from the programme's files",
    "kinds": {
        "factories": {"file": "factories.jsonl", "records": 2, "sha256": "a" * 64},
        "plan-items": {"file": "plan_items.jsonl", "records": 9, "sha256": "b" * 64},
    },
}


class TestManifestChecksum:
    def test_is_sha256_of_the_canonical_manifest(self) -> None:
        manifest = Manifest.model_validate(MANIFEST)
        document = manifest.model_dump(mode="json")
        written = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert manifest.checksum() == "sha256:" + hashlib.sha256(written.encode()).hexdigest()

    def test_does_not_depend_on_how_the_file_was_written(self) -> None:
        reordered = {
            "kinds": dict(reversed(list(MANIFEST["kinds"].items()))),
            **{key: value for key, value in reversed(MANIFEST.items()) if key != "kinds"},
        }
        spaced = json.dumps(reordered, indent=4)
        first = Manifest.model_validate(MANIFEST).checksum()
        assert Manifest.model_validate_json(spaced).checksum() == first
        assert Manifest.model_validate_json(json.dumps(MANIFEST)).checksum() == first

    def test_changes_with_any_file_s_checksum_or_count(self) -> None:
        first = Manifest.model_validate(MANIFEST).checksum()
        other_file = json.loads(json.dumps(MANIFEST))
        other_file["kinds"]["factories"]["sha256"] = "c" * 64
        more_records = json.loads(json.dumps(MANIFEST))
        more_records["kinds"]["plan-items"]["records"] = 10
        checksums = {
            first,
            Manifest.model_validate(other_file).checksum(),
            Manifest.model_validate(more_records).checksum(),
        }
        assert len(checksums) == 3
        assert all(value.startswith("sha256:") and len(value) == 71 for value in checksums)

    def test_a_checksum_fits_the_header_the_import_endpoint_accepts(self) -> None:
        import re

        assert re.fullmatch(r"sha256:[0-9a-f]{64}", Manifest.model_validate(MANIFEST).checksum())

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("format", "betterwork-history/2"),
            ("bundle_id", "-starts-with-a-dash"),
            ("bundle_id", "x" * 101),
            ("country", "kh"),
            ("programme", ""),
            ("extra", "not in the format"),
        ],
    )
    def test_refuses_a_manifest_outside_the_format(self, field: str, value: str) -> None:
        with pytest.raises(ValidationError):
            Manifest.model_validate({**MANIFEST, field: value})

    def test_refuses_a_file_entry_with_a_bad_name_count_or_checksum(self) -> None:
        for entry in (
            {"file": "../factories.jsonl", "records": 1, "sha256": "a" * 64},
            {"file": "factories.jsonl", "records": -1, "sha256": "a" * 64},
            {"file": "factories.jsonl", "records": 1, "sha256": "A" * 64},
        ):
            with pytest.raises(ValidationError):
                Manifest.model_validate({**MANIFEST, "kinds": {"factories": entry}})


class TestDigest:
    def test_is_the_same_however_the_line_orders_its_members(self) -> None:
        value = VALID["grants"]
        shuffled = dict(reversed(list(value.items())))
        assert digest(GrantRecord.model_validate(value)) == digest(
            GrantRecord.model_validate_json(json.dumps(shuffled, indent=2))
        )

    def test_counts_defaults_so_a_missing_default_and_the_default_are_one_record(self) -> None:
        written = GrantRecord.model_validate({**VALID["grants"], "reason": ""})
        assert digest(written) == digest(GrantRecord.model_validate(VALID["grants"]))

    def test_changes_with_the_content(self) -> None:
        first = digest(GrantRecord.model_validate(VALID["grants"]))
        later = digest(GrantRecord.model_validate({**VALID["grants"], "ends_on": "2005-01-01"}))
        assert first != later
        assert len(first) == 64

    def test_canonical_json_is_sorted_compact_utf8(self) -> None:
        assert canonical({"b": 1, "a": ["é", None]}) == '{"a":["é",null],"b":1}'.encode()


class TestKinds:
    def test_every_kind_once_each_with_its_owner_phase_and_file(self) -> None:
        listed = kinds()
        assert [k.name for k in listed] == list(VALID)
        assert len({k.name for k in listed}) == len(listed)
        assert {k.service for k in listed} == {
            "assessment",
            "remediation",
            "buyer_sharing",
            "advisory",
        }
        assert kind("plan-items").file == "plan_items.jsonl"
        assert kind("factories").record is FactoryRecord
        with pytest.raises(KeyError):
            kind("workers")

    def test_import_order_puts_what_a_record_refers_to_in_an_earlier_phase(self) -> None:
        phase = {k.name: k.phase for k in kinds()}
        refers_to = {
            "assessments": ["factories"],
            "committees": ["factories"],
            "plan-items": ["assessments"],
            "grants": ["buyers", "factories"],
            "reliances": ["buyers", "factories", "assessments"],
            "training-sessions": ["factories"],
            "advisory-visits": ["factories"],
        }
        for name, earlier in refers_to.items():
            for other in earlier:
                assert phase[other] < phase[name], (name, other)
        # kinds() is the import order: never a phase after a later one
        phases = [k.phase for k in kinds()]
        assert [k.phase for k in sorted(kinds(), key=lambda k: k.phase)] == sorted(phases)

    def test_business_time_of_a_day_is_noon_utc(self) -> None:
        moment = at_noon(date(2004, 2, 29))
        assert moment == datetime(2004, 2, 29, 12, tzinfo=UTC)
        # the same day in every country programme's time zone (Haiti's UTC-5 to Cambodia's +7,
        # and any zone less than 12 hours from UTC)
        for hours in (-11, -5, 7, 11):
            assert moment.astimezone(timezone(timedelta(hours=hours))).date() == date(2004, 2, 29)


class TestRecords:
    @pytest.mark.parametrize("name", list(VALID))
    def test_the_example_of_every_kind_is_valid(self, name: str) -> None:
        record = kind(name).record.model_validate(VALID[name])
        assert record.source_id == VALID[name]["source_id"]

    @pytest.mark.parametrize(
        "source_id", ["", "-KH-1", "KH 1", "KH-1\x00", "x" * 121, "é", "KH-1\n2"]
    )
    def test_a_source_id_is_a_plain_token(self, source_id: str) -> None:
        assert "pattern" in refused(BuyerRecord, record_of("buyers", source_id=source_id))

    def test_whitespace_around_a_source_id_is_stripped_and_unknown_fields_refused(self) -> None:
        record = BuyerRecord.model_validate(record_of("buyers", source_id="  B-001 "))
        assert record.source_id == "B-001"
        assert "Extra inputs" in refused(BuyerRecord, record_of("buyers", favourite="blue"))

    def test_a_record_is_frozen(self) -> None:
        record = BuyerRecord.model_validate(VALID["buyers"])
        with pytest.raises(ValidationError):
            record.name = "Other"  # type: ignore[misc]


class TestFactoryRecord:
    def test_workforce_years_ascend_each_once(self) -> None:
        workforce = [
            {"year": 2002, "women": 1, "men": 1},
            {"year": 2001, "women": 1, "men": 1},
        ]
        assert "ascending" in refused(FactoryRecord, record_of("factories", workforce=workforce))
        twice = [{"year": 2001, "women": 1, "men": 1}] * 2
        assert "ascending" in refused(FactoryRecord, record_of("factories", workforce=twice))

    def test_the_workforce_is_known_from_the_year_of_registration(self) -> None:
        late = record_of("factories", registered_on="2000-12-31")
        assert "year of registration" in refused(FactoryRecord, late)
        assert "at least 1" in refused(FactoryRecord, record_of("factories", workforce=[]))

    @pytest.mark.parametrize(
        "entry",
        [
            {"year": 1989, "women": 1, "men": 1},
            {"year": 2001, "women": -1, "men": 1},
            {"year": 2001, "women": 1, "men": 1_000_001},
            {"year": 2001, "women": 1, "men": 2**31},
        ],
    )
    def test_a_workforce_year_is_plausible(self, entry: dict[str, int]) -> None:
        refused(FactoryRecord, record_of("factories", workforce=[entry]))

    def test_country_and_sector_codes(self) -> None:
        refused(FactoryRecord, record_of("factories", country="Cambodia"))
        refused(FactoryRecord, record_of("factories", sector_isic="14a0"))


class TestAssessmentRecord:
    def test_the_report_is_not_dated_before_the_visit(self) -> None:
        early = record_of("assessments", report_date="2002-05-05")
        assert "report_date is before assessed_on" in refused(AssessmentRecord, early)

    def test_a_question_is_answered_once(self) -> None:
        findings = [
            {"question_id": "osh-1", "compliant": False},
            {"question_id": "osh-1", "compliant": True},
        ]
        twice = record_of("assessments", findings=findings, corrections=[], responses=[])
        assert "answered twice" in refused(AssessmentRecord, twice)

    def test_corrections_and_responses_are_about_its_findings_and_after_its_report(self) -> None:
        strange = record_of(
            "assessments",
            corrections=[
                {
                    "question_id": "child-1",
                    "corrected_on": "2002-06-01",
                    "compliant": True,
                    "reason": "r",
                }
            ],
        )
        assert "child-1 is not among the findings" in refused(AssessmentRecord, strange)
        early_correction = record_of(
            "assessments",
            corrections=[
                {
                    "question_id": "osh-1",
                    "corrected_on": "2002-05-19",
                    "compliant": True,
                    "reason": "r",
                }
            ],
        )
        assert "correction is dated before" in refused(AssessmentRecord, early_correction)
        early_response = record_of(
            "assessments",
            responses=[{"question_id": "osh-1", "responded_on": "2002-05-01", "text": "t"}],
        )
        assert "response is dated before" in refused(AssessmentRecord, early_response)

    def test_it_has_findings_a_cycle_and_a_catalogue_version_of_the_form_year_dot_n(
        self,
    ) -> None:
        refused(AssessmentRecord, record_of("assessments", findings=[]))
        refused(AssessmentRecord, record_of("assessments", cycle=0))
        refused(AssessmentRecord, record_of("assessments", catalogue_version="2024"))
        fine = AssessmentRecord.model_validate(record_of("assessments", catalogue_version="2001.1"))
        assert fine.catalogue_version == "2001.1"


class TestRemediationRecords:
    def test_a_committee_has_both_sides(self) -> None:
        managers = [{"name": "A", "side": "management"}, {"name": "B", "side": "management"}]
        assert "both sides" in refused(CommitteeRecord, record_of("committees", members=managers))
        refused(CommitteeRecord, record_of("committees", members=[managers[0]]))

    def test_a_committee_meets_after_it_was_established(self) -> None:
        early = record_of("committees", meetings=[{"held_on": "2002-06-30"}])
        assert "before the committee was established" in refused(CommitteeRecord, early)

    def test_a_plan_item_s_status_history_is_in_date_order(self) -> None:
        history = [
            {"status": "done", "on": "2002-07-01", "by": "factory"},
            {"status": "in_progress", "on": "2002-06-01", "by": "factory"},
        ]
        unordered = record_of("plan-items", status_history=history)
        assert "date order" in refused(PlanItemRecord, unordered)
        unknown = [{"status": "lost", "on": "2002-07-01", "by": "factory"}]
        refused(PlanItemRecord, record_of("plan-items", status_history=unknown))


class TestBuyerSharingRecords:
    def test_a_grant_ends_or_is_revoked_no_earlier_than_it_was_given(self) -> None:
        ends = record_of("grants", ends_on="2003-12-31")
        assert "ends_on is before granted_on" in refused(GrantRecord, ends)
        revoked = record_of("grants", ends_on=None, revoked_on="2003-12-31")
        assert "revoked_on is before granted_on" in refused(GrantRecord, revoked)
        one_day = GrantRecord.model_validate(record_of("grants", revoked_on="2004-01-01"))
        assert one_day.ends_on == one_day.revoked_on == one_day.granted_on

    def test_a_reliance_period_ends_after_it_starts_and_is_withdrawn_after_it_was_declared(
        self,
    ) -> None:
        backwards = record_of("reliances", period_end="2005-12-31")
        assert "period_end is before period_start" in refused(RelianceRecord, backwards)
        withdrawn = record_of("reliances", withdrawn_on="2006-01-31")
        assert "withdrawn_on is before declared_on" in refused(RelianceRecord, withdrawn)

    def test_a_buyer_has_an_address_to_write_to(self) -> None:
        refused(BuyerRecord, record_of("buyers", contact_email="ada@buyer"))
        refused(BuyerRecord, record_of("buyers", contact_email="ada buyer@x.example"))


class TestAdvisoryRecords:
    def test_a_session_ends_no_earlier_than_it_starts(self) -> None:
        backwards = record_of("training-sessions", end_date="2005-02-28")
        assert "end_date is before start_date" in refused(TrainingSessionRecord, backwards)

    def test_its_factories_are_named_once_and_its_attendees_come_from_them(self) -> None:
        twice = record_of("training-sessions", factories=["KH-F-00012", "KH-F-00012"])
        assert "named twice" in refused(TrainingSessionRecord, twice)
        stranger = record_of(
            "training-sessions",
            attendees=[
                {"factory": "KH-F-09999", "role": "worker", "gender": "other", "days_attended": 1}
            ],
        )
        assert "not among the session" in refused(TrainingSessionRecord, stranger)

    @pytest.mark.parametrize("days", [0, -0.5, 0.25, 30.5, "nan", "inf"])
    def test_a_visit_lasts_half_days_up_to_thirty(self, days: object) -> None:
        refused(AdvisoryVisitRecord, record_of("advisory-visits", duration_days=days))

    def test_a_visit_of_thirty_days_is_the_longest(self) -> None:
        visit = AdvisoryVisitRecord.model_validate(record_of("advisory-visits", duration_days=30))
        assert visit.duration_days == 30


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(list(VALID)), value=ANY_JSON)
def test_any_json_is_a_record_or_a_validation_error(name: str, value: object) -> None:
    model = kind(name).record
    try:
        record = model.model_validate(value)
    except ValidationError as error:
        assert error.errors(), "a refusal names what is wrong"
        return
    assert isinstance(record, model)  # only a JSON object could be one


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(list(VALID)), data=st.data())
def test_any_hostile_member_value_is_a_record_or_a_validation_error(
    name: str, data: st.DataObject
) -> None:
    """Year 1, 2^31, NaN, NUL, lone surrogates in any one member of a valid record."""
    value = record_of(name)
    member = data.draw(st.sampled_from(sorted(value)))
    value[member] = data.draw(ANY_VALUE)
    try:
        record = kind(name).record.model_validate(value)
    except ValidationError as error:
        assert error.errors(), "a refusal names what is wrong"
        return
    assert len(digest(record)) == 64  # what the import does with every valid record


def test_the_history_modules_are_pure() -> None:
    """The record models are the domain's: they import no web framework, driver or client."""
    modules = [
        f"libs.domain.history.{path.stem}"
        for path in sorted((ROOT / "libs" / "domain" / "history").glob("*.py"))
        if path.stem != "__init__"
    ]
    script = (
        "import importlib.abc, sys\n"
        "class Refuse(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'nats', 'asyncpg', 'sqlalchemy', 'fastapi',\n"
        "                                  'starlette', 'httpx', 'aiohttp'}:\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Refuse())\n"
        f"for module in {modules!r}:\n"
        "    __import__(module)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert len(modules) >= 5
