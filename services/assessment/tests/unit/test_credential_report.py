"""The report a credential attests (pure): the document, which corrections change it, the revision
a credential is, the credential ids the public events name, and the settings that refuse to start
without keys outside development."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from libs.credentials.dcc import credential_id, report_hash
from libs.credentials.keys import KeyRing, SigningKey
from services.assessment.contract import translate
from services.assessment.domain.assessment_events import (
    FindingCorrected,
    FindingFacts,
    ReportCredentialIssued,
)
from services.assessment.domain.assessment_state import ASSESSMENT, dump, restore
from services.assessment.domain.credential import (
    FactoryNamed,
    changes_report,
    next_revision,
    report_document,
)
from services.assessment.settings import AssessmentSettings
from services.assessment.tests.unit.given import (
    CATALOGUE,
    COMPLIANT,
    NON_COMPLIANT,
    all_critical_answered,
    completed_event,
    given,
    recorded,
    scheduled,
)

FACTORY = FactoryNamed("f-1", "Mekong Garments", "KH", None)
QUESTION = "OSH-EMP-03"


def completed() -> Any:
    return given(
        scheduled(),
        *all_critical_answered(except_for=QUESTION),
        recorded(QUESTION, NON_COMPLIANT),
        completed_event(),
    )


def issued(assessment_id: str, revision: int) -> ReportCredentialIssued:
    return ReportCredentialIssued(
        assessment_id=assessment_id,
        factory_id="f-1",
        credential_id=credential_id(assessment_id, revision),
        revision=revision,
        supersedes=credential_id(assessment_id, revision - 1) if revision else None,
        report_date="2025-03-04",
        issued_at="2026-12-08T10:00:00Z",
        status_list=1,
        status_list_index=5,
        credential="a.b.c",
        report={},
        did_document={"id": "did:web:x"},
        status_list_credential="a.b.c",
        history={"service": "assessment", "stream": "s", "version": 1, "eventHash": "0" * 64},
    )


class TestReportDocument:
    def test_says_each_result_and_a_non_compliance_s_evidence_only(self) -> None:
        report = report_document(
            completed(),
            CATALOGUE,
            catalogue_effective_from=None,
            factory=FACTORY,
            revision=0,
        )
        findings = {
            f["question_id"]: f
            for cluster in report["clusters"]
            for point in cluster["points"]
            for f in point["findings"]
        }
        assert findings[QUESTION]["evidence"] == NON_COMPLIANT.evidence
        assert all("evidence" not in f for q, f in findings.items() if q != QUESTION)
        assert report["non_compliance_count"] == 1 and report["report_date"] == "2025-03-04"
        assert "evidence_refs" not in findings[QUESTION]

    def test_the_same_state_gives_the_same_hash(self) -> None:
        def made() -> str:
            document = report_document(
                completed(), CATALOGUE, catalogue_effective_from=None, factory=FACTORY, revision=0
            )
            return report_hash(document)

        assert made() == made()

    def test_a_report_not_completed_has_no_document(self) -> None:
        with pytest.raises(ValueError, match="no report"):
            report_document(
                given(scheduled()),
                CATALOGUE,
                catalogue_effective_from=None,
                factory=FACTORY,
                revision=0,
            )


class TestWhichCorrectionsChangeIt:
    @pytest.mark.parametrize(
        ("before", "after", "changes"),
        [
            (COMPLIANT, NON_COMPLIANT, True),
            (NON_COMPLIANT, COMPLIANT, True),
            (NON_COMPLIANT, NON_COMPLIANT.model_copy(update={"evidence": "other"}), True),
            (COMPLIANT, COMPLIANT.model_copy(update={"evidence": "a note"}), False),
            (NON_COMPLIANT, NON_COMPLIANT.model_copy(update={"evidence_refs": ("x",)}), False),
            (COMPLIANT, FindingFacts(result="not_applicable"), True),
        ],
    )
    def test_only_what_the_report_says(
        self, before: FindingFacts, after: FindingFacts, changes: bool
    ) -> None:
        assert changes_report(before, after) is changes


class TestRevisions:
    def test_count_from_zero_and_survive_a_snapshot(self) -> None:
        state = completed()
        assert next_revision(state) == 0
        state = ASSESSMENT.evolve(state, issued(state.assessment_id, 0))
        assert state is not None and next_revision(state) == 1
        assert restore(dump(state)) == state
        # a snapshot written before credentials were issued restores without them
        old = dump(completed())
        del old["assessment"]["credential_id"], old["assessment"]["credential_revision"]
        restored = restore(old)
        assert restored is not None and restored.credential_revision is None

    def test_the_public_events_name_the_credential_issued_with_them(self) -> None:
        state = ASSESSMENT.evolve(completed(), issued("a-1", 0))
        [public] = translate(completed_event(), None)
        assert public.credential_id == credential_id(public.assessment_id, 0)  # type: ignore[attr-defined]
        correction = FindingCorrected(
            assessment_id="a-1",
            factory_id="f-1",
            question_id=QUESTION,
            corrected_by="a",
            reason="r",
            before=NON_COMPLIANT,
            after=COMPLIANT,
        )
        [corrected] = translate(correction, state)
        assert corrected.credential_id == credential_id("a-1", 1)  # type: ignore[attr-defined]
        unchanged = correction.model_copy(
            update={"before": COMPLIANT, "after": COMPLIANT.model_copy(update={"evidence": "x"})}
        )
        assert translate(unchanged, state)[0].credential_id is None  # type: ignore[attr-defined]
        # an imported correction (no state): its report's one credential is issued later
        assert translate(correction, None)[0].credential_id is None  # type: ignore[attr-defined]


def production(**environment: str) -> AssessmentSettings:
    return AssessmentSettings.model_validate(
        {
            "BW_ENVIRONMENT": "production",
            "BW_JWT_SECRET": "a-production-secret-of-at-least-32-bytes!",
            **environment,
        }
    )


class TestSettings:
    def test_production_refuses_to_start_without_keys(self) -> None:
        with pytest.raises(ValidationError, match="BW_CREDENTIAL_KEYS is unset"):
            production(BW_CREDENTIAL_ISSUER="did:web:reports.betterwork.org")

    def test_production_refuses_to_start_without_an_issuer(self) -> None:
        keys = KeyRing.of([SigningKey.generate("k1")]).to_json()
        with pytest.raises(ValidationError, match="BW_CREDENTIAL_ISSUER"):
            production(BW_CREDENTIAL_KEYS=keys)

    @pytest.mark.parametrize(
        ("keys", "issuer", "reason"),
        [
            ("[]", "did:web:reports.betterwork.org", "at least one key"),
            ('[{"kty": "RSA", "kid": "k"}]', "did:web:reports.betterwork.org", "not Ed25519"),
            (None, "did:key:z6Mk", "not a did:web DID"),
        ],
    )
    def test_refuses_keys_or_an_issuer_it_cannot_use(
        self, keys: str | None, issuer: str, reason: str
    ) -> None:
        ring = keys or KeyRing.of([SigningKey.generate("k1")]).to_json()
        with pytest.raises(ValidationError, match=reason):
            production(BW_CREDENTIAL_KEYS=ring, BW_CREDENTIAL_ISSUER=issuer)

    def test_production_refuses_the_public_development_placeholder(self) -> None:
        overlay = Path(__file__).parents[4] / "deploy/k8s/overlays/dev/kustomization.yaml"
        line = next(
            line for line in overlay.read_text().splitlines() if "BW_CREDENTIAL_KEYS=" in line
        )
        placeholder = line.split("BW_CREDENTIAL_KEYS=", 1)[1].rstrip("'")
        with pytest.raises(ValidationError, match="development placeholder"):
            production(
                BW_CREDENTIAL_KEYS=placeholder,
                BW_CREDENTIAL_ISSUER="did:web:reports.betterwork.org",
            )
        development = AssessmentSettings.model_validate(
            {"BW_ENVIRONMENT": "development", "BW_CREDENTIAL_KEYS": placeholder}
        )
        assert development.credential_ring() is not None

    def test_production_with_keys_and_issuer_starts(self) -> None:
        ring = KeyRing.of([SigningKey.generate("new"), SigningKey.generate("old")])
        settings = production(
            BW_CREDENTIAL_KEYS=ring.to_json(), BW_CREDENTIAL_ISSUER="did:web:reports.betterwork.org"
        )
        configured = settings.credential_ring()
        assert configured is not None and [key.kid for key in configured] == ["new", "old"]
        assert ring.active.private_jwk()["d"] not in repr(settings)

    def test_development_without_keys_generates_one(self) -> None:
        settings = AssessmentSettings.model_validate({"BW_ENVIRONMENT": "development"})
        assert settings.credential_ring() is None
        assert settings.credential_issuer == "did:web:localhost%3A8001"
