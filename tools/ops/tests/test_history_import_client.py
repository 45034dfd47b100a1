"""The history import's client side on a fake owning service (an httpx transport that parses the
lines as the real endpoint does, `libs.servicekit.imports.parse_lines`, and keeps a ledger): the
bundle's checks, chunks numbered as the file, bad lines reported and the rest sent again, lines
waiting for an upstream fact sent again after the propagation wait, retries while a service is
away. The real services are `tests/test_history_import.py`'s."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from libs.domain.history.bundle import kind as kind_named
from libs.servicekit.imports import parse_lines
from tests.history_bundles import write_bundle
from tools.ops.bundle_files import BundleError, load_bundle
from tools.ops.history_import import ImportFailed, ImportOptions, ImportOutcome, import_bundle
from tools.ops.targets import Targets

URLS = {name: f"http://{name}.test" for name in ("assessment", "buyer_sharing", "remediation")}
TARGETS = Targets("postgresql://unused", "nats://unused", "")


def buyer(number: int, **changes: Any) -> dict[str, Any]:
    return {
        "source_id": f"KH-B-{number:03d}",
        "name": f"Buyer {number}",
        "country": "US",
        "contact_name": "Sourcing desk",
        "contact_email": f"sourcing{number}@buyer.example",
        "joined_on": "2004-03-01",
        **changes,
    }


def factory(number: int) -> dict[str, Any]:
    return {
        "source_id": f"KH-F-{number:03d}",
        "name": f"Factory {number}",
        "country": "KH",
        "address": "Phnom Penh",
        "registered_on": "2001-05-02",
        "workforce": [{"year": 2001, "women": 800, "men": 200}],
    }


@dataclass
class FakeService:
    """Every owning service at once: `bad-` source ids break a domain rule; a source id in
    `ahead` refers to something not yet received until `waits` propagation waits happened;
    `faults` are what the next requests get instead of an answer."""

    ahead: dict[str, int] = field(default_factory=dict)
    faults: list[Callable[[], httpx.Response]] = field(default_factory=list)
    ledger: dict[tuple[str, str], str] = field(default_factory=dict)
    requests: list[tuple[str, int, list[int]]] = field(default_factory=list)
    waits: int = 0
    max_records: int = 5_000

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.faults:
            return self.faults.pop(0)()
        assert request.headers["content-type"] == "application/x-ndjson"
        assert request.headers["import-bundle"] == "test-bundle-1"
        assert request.headers["import-bundle-checksum"].startswith("sha256:")
        kind = request.url.path.rsplit("/", 1)[-1]
        first_line = int(request.url.params["first_line"])
        valid, errors = parse_lines(request.content, kind_named(kind).record, first_line)
        self.requests.append((kind, first_line, [item.line for item in valid]))
        if len(valid) > self.max_records:
            return httpx.Response(413, json={"title": "Content Too Large"})
        rejected = [
            {"line": item.line, "source_id": item.record.source_id, "field": f, "reason": r}
            for item in valid
            for f, r in self._rules(item.record.source_id)
        ]
        rejected += [vars(error) for error in errors]
        if rejected:
            return httpx.Response(
                422,
                json={
                    "type": "https://betterwork.example/problems/import-rejected",
                    "title": "Import rejected",
                    "status": 422,
                    "errors": rejected,
                },
            )
        imported = unchanged = 0
        for item in valid:
            if (kind, item.record.source_id) in self.ledger:
                unchanged += 1
            else:
                self.ledger[(kind, item.record.source_id)] = item.digest
                imported += 1
        return httpx.Response(
            200,
            json={
                "kind": kind,
                "bundle_id": "test-bundle-1",
                "received": len(valid),
                "imported": imported,
                "unchanged": unchanged,
                "events": 2 * imported,
                "seconds": 0.01,
            },
        )

    def _rules(self, source_id: str) -> list[tuple[str, str]]:
        if "bad" in source_id:
            return [("name", "breaks a rule of the domain")]
        if self.ahead.get(source_id, 0) > self.waits:
            return [("factory", "KH-F-404 is not yet received")]
        return []

    async def wait(self) -> float:
        self.waits += 1
        return 0.0


async def run(
    directory: Path, service: FakeService, **options: Any
) -> tuple[ImportOutcome, dict[str, int]]:
    progress: dict[str, int] = {}

    def advance(kind: str, lines: int) -> None:
        progress[kind] = progress.get(kind, 0) + lines

    outcome = await import_bundle(
        load_bundle(directory),
        URLS,
        lambda: "admin-token",
        TARGETS,
        ImportOptions(**{"retry_seconds": 5.0, **options}),
        advance,
        transport=httpx.MockTransport(service.handle),
        wait=service.wait,
    )
    return outcome, progress


class TestChunks:
    async def test_every_record_is_sent_once_in_chunks_numbered_as_the_file(
        self, tmp_path: Path
    ) -> None:
        write_bundle(tmp_path, {"buyers": [buyer(n) for n in range(1, 8)]})
        service = FakeService()
        outcome, progress = await run(tmp_path, service, chunk=3)
        assert [(first, lines) for _, first, lines in service.requests] == [
            (1, [1, 2, 3]),
            (4, [4, 5, 6]),
            (7, [7]),
        ]
        tally = outcome.tallies["buyers"]
        assert (tally.records, tally.imported, tally.unchanged, tally.events) == (7, 7, 0, 14)
        assert not outcome.problems and outcome.rejected == 0
        assert progress == {"buyers": 7}

    async def test_importing_again_finds_every_record_unchanged(self, tmp_path: Path) -> None:
        write_bundle(tmp_path, {"buyers": [buyer(n) for n in range(1, 5)]})
        service = FakeService()
        await run(tmp_path, service)
        again, _ = await run(tmp_path, service)
        tally = again.tallies["buyers"]
        assert (tally.imported, tally.unchanged, tally.events) == (0, 4, 0)

    async def test_a_request_too_large_is_split(self, tmp_path: Path) -> None:
        write_bundle(tmp_path, {"buyers": [buyer(n) for n in range(1, 6)]})
        service = FakeService(max_records=2)
        outcome, _ = await run(tmp_path, service, chunk=5)
        assert outcome.tallies["buyers"].imported == 5
        assert [lines for _, _, lines in service.requests] == [
            [1, 2, 3, 4, 5],
            [1, 2],
            [3, 4, 5],
            [3],
            [4, 5],
        ]

    async def test_kinds_go_phase_by_phase_with_a_wait_after_each(self, tmp_path: Path) -> None:
        write_bundle(tmp_path, {"buyers": [buyer(1)], "factories": [factory(1), factory(2)]})
        service = FakeService()
        outcome, _ = await run(tmp_path, service)
        assert sorted(kind for kind, _, _ in service.requests) == ["buyers", "factories"]
        assert service.waits == 1  # one phase: its wait is the catch-up
        assert outcome.waits == {} and outcome.events == 6


class TestBadRecords:
    async def test_bad_lines_are_reported_and_every_other_record_imported(
        self, tmp_path: Path
    ) -> None:
        lines: list[Any] = [buyer(n) for n in range(1, 7)]
        lines[1] = buyer(2, contact_email="nobody")  # the schema: not sent at all
        lines[3] = "{not json"
        lines[4] = buyer(5, source_id="KH-B-bad-5")  # the service's rule
        write_bundle(tmp_path, {"buyers": lines})
        service = FakeService()
        outcome, progress = await run(tmp_path, service)
        # the schema's violations never reach the service; the chunk is sent again without
        # the line the service rejected, every other line keeping its number
        assert [lines for _, _, lines in service.requests] == [[1, 3, 5, 6], [1, 3, 6]]
        assert service.requests[1][1] == 1
        assert sorted(source for _, source in service.ledger) == [
            "KH-B-001",
            "KH-B-003",
            "KH-B-006",
        ]
        found = [(p.file, p.line, p.source_id, p.field, p.stage) for p in outcome.problems]
        assert sorted(found) == [
            ("buyers.jsonl", 2, "KH-B-002", "contact_email", "bundle"),
            ("buyers.jsonl", 4, None, "record", "bundle"),
            ("buyers.jsonl", 5, "KH-B-bad-5", "name", "service"),
        ]
        assert outcome.rejected == 3 and outcome.tallies["buyers"].imported == 3
        assert progress == {"buyers": 6}

    async def test_a_source_id_given_twice_in_a_file_is_reported_on_its_second_line(
        self, tmp_path: Path
    ) -> None:
        write_bundle(tmp_path, {"buyers": [buyer(1), buyer(2), buyer(1, name="Other")]})
        outcome, _ = await run(tmp_path, FakeService())
        [problem] = outcome.problems
        assert (problem.line, problem.field, problem.stage) == (3, "source_id", "bundle")
        assert "first on line 1" in problem.reason

    async def test_a_rule_over_the_whole_record_names_the_field_its_message_names(
        self, tmp_path: Path
    ) -> None:
        reliance = {
            "source_id": "KH-R-001",
            "buyer": "KH-B-001",
            "factory": "KH-F-001",
            "assessment": "KH-A-001",
            "declared_on": "2006-02-01",
            "period_start": "2006-03-01",
            "period_end": "2005-03-01",
        }
        write_bundle(tmp_path, {"reliances": [reliance]})
        service = FakeService()
        outcome, _ = await run(tmp_path, service)
        [problem] = outcome.problems
        assert (problem.file, problem.line, problem.field) == ("reliances.jsonl", 1, "period_end")
        assert "period_end is before period_start" in problem.reason
        assert not service.requests

    async def test_a_reference_not_yet_received_is_sent_again_after_the_wait(
        self, tmp_path: Path
    ) -> None:
        write_bundle(tmp_path, {"buyers": [buyer(1), buyer(2), buyer(3)]})
        service = FakeService(ahead={"KH-B-002": 1})
        outcome, progress = await run(tmp_path, service)
        assert not outcome.problems
        assert outcome.tallies["buyers"].imported == 3
        assert [lines for _, _, lines in service.requests] == [[1, 2, 3], [1, 3], [2]]
        assert service.requests[2][1] == 2 and progress == {"buyers": 3}

    async def test_a_reference_that_never_arrives_is_reported_after_the_bounded_rounds(
        self, tmp_path: Path
    ) -> None:
        write_bundle(tmp_path, {"buyers": [buyer(1), buyer(2)]})
        service = FakeService(ahead={"KH-B-002": 99})
        outcome, progress = await run(tmp_path, service, deferred_rounds=2)
        [problem] = outcome.problems
        assert (problem.line, problem.field) == (2, "factory")
        assert "not yet received" in problem.reason
        assert service.waits == 3  # after the phase, then after each of the two rounds
        assert outcome.rejected == 1 and progress == {"buyers": 2}


def refused() -> httpx.Response:
    raise httpx.ConnectError("Connection refused")


def reset() -> httpx.Response:
    raise httpx.RemoteProtocolError("Server disconnected without sending a response.")


class AwayAfterFirstRequest(FakeService):
    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.requests:
            refused()
        return super().handle(request)


class TestServiceAway:
    async def test_a_restarting_service_costs_retries_not_records(self, tmp_path: Path) -> None:
        write_bundle(tmp_path, {"buyers": [buyer(n) for n in range(1, 4)]})
        unavailable = httpx.Response(503, json={"title": "Service Unavailable"})
        service = FakeService(faults=[refused, reset, lambda: unavailable])
        outcome, _ = await run(tmp_path, service)
        tally = outcome.tallies["buyers"]
        assert (tally.imported, tally.retries) == (3, 3)

    async def test_a_service_away_too_long_stops_the_import_with_what_was_done(
        self, tmp_path: Path
    ) -> None:
        write_bundle(tmp_path, {"buyers": [buyer(n) for n in range(1, 5)]})
        service = AwayAfterFirstRequest()
        with pytest.raises(ImportFailed) as failed:
            await run(tmp_path, service, chunk=2, retry_seconds=0.6)
        assert "buyer_sharing did not take buyers (lines from 3)" in str(failed.value)
        assert "ConnectError" in str(failed.value)
        assert failed.value.outcome.tallies["buyers"].imported == 2

    async def test_a_refusal_no_retry_mends_stops_the_import(self, tmp_path: Path) -> None:
        write_bundle(tmp_path, {"buyers": [buyer(1)]})
        forbidden = httpx.Response(403, json={"title": "Forbidden", "detail": "admins only"})
        service = FakeService(faults=[lambda: forbidden])
        with pytest.raises(ImportFailed) as failed:
            await run(tmp_path, service)
        assert "403 Forbidden: admins only" in str(failed.value)


class TestBundleChecks:
    def test_a_file_changed_after_the_manifest_is_refused(self, tmp_path: Path) -> None:
        write_bundle(tmp_path, {"buyers": [buyer(1)]})
        with (tmp_path / "buyers.jsonl").open("a") as file:
            file.write(json.dumps(buyer(2)) + "\n")
        with pytest.raises(BundleError, match="SHA-256"):
            load_bundle(tmp_path)

    def test_a_count_that_is_not_the_manifests_is_refused(self, tmp_path: Path) -> None:
        write_bundle(tmp_path, {"buyers": [buyer(1)]})
        manifest = json.loads((tmp_path / "manifest.json").read_text())
        manifest["kinds"]["buyers"]["records"] = 2
        (tmp_path / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(BundleError, match="1 records, the manifest says 2"):
            load_bundle(tmp_path)

    def test_a_missing_or_invalid_manifest_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(BundleError, match=r"no manifest\.json"):
            load_bundle(tmp_path)
        (tmp_path / "manifest.json").write_text('{"format": "betterwork-history/2"}')
        with pytest.raises(BundleError, match="format"):
            load_bundle(tmp_path)

    def test_an_unknown_kind_is_refused(self, tmp_path: Path) -> None:
        write_bundle(tmp_path, {"buyers": [buyer(1)]})
        manifest = json.loads((tmp_path / "manifest.json").read_text())
        manifest["kinds"]["suppliers"] = manifest["kinds"]["buyers"]
        (tmp_path / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(BundleError, match="suppliers"):
            load_bundle(tmp_path)

    def test_a_missing_file_is_refused(self, tmp_path: Path) -> None:
        write_bundle(tmp_path, {"buyers": [buyer(1)]})
        (tmp_path / "buyers.jsonl").unlink()
        with pytest.raises(BundleError, match=r"buyers\.jsonl is missing"):
            load_bundle(tmp_path)
