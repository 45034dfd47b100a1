"""Import a history bundle into the running services (`bw.py ops import DIR`): each kind's valid
lines in chunks to its owning service's `POST /v1/imports/<kind>`, phase by phase, waiting between
phases until the events reached every service downstream.

- A 422 `import-rejected` names the bad lines: they go to the report and the rest of the chunk is
  sent again, so every good record is imported and nothing of a bad one. A line the service says
  refers to something "not yet received" (an upstream fact still on its way) is sent again after
  the phase's propagation wait, a bounded number of times, then reported (so is a line that
  names something the service does not know: it may be such a fact).
- A service restarting (refused or reset connection, 502/503/504) costs a retry of the chunk with
  backoff, up to `retry_seconds`: the services' import ledger makes a chunk sent twice change
  nothing the second time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from tools.ops.bundle_files import Bundle, KindFile, RowProblem
from tools.ops.status import wait_until_delivered
from tools.ops.targets import Targets

NDJSON = "application/x-ndjson"
REJECTED = "/import-rejected"
# how a service says a record refers to something it does not know (yet): an upstream fact may
# still be on its way, so the line is sent again after the wait (a reference that is simply wrong
# costs those waits, then is reported the same)
NOT_YET_RECEIVED = ("not yet received", "not received", "not known", "unknown")
RESTARTING = frozenset({502, 503, 504})
# answers a request sent again may get while its first attempt still runs in the service (a
# lost connection leaves it running): a few tries, then the answer stands
TRANSIENT = frozenset({409, 429, 500})
TRANSIENT_TRIES = 5
MAX_BACKOFF_SECONDS = 5.0


@dataclass(frozen=True)
class ImportOptions:
    chunk: int = 500  # lines per request
    parallel: int = 1  # requests of one kind in flight
    retry_seconds: float = 300.0  # how long a chunk is retried while its service is away
    wait_seconds: float = 900.0  # the bound of each propagation wait
    deferred_rounds: int = 3  # tries of a line whose reference had not arrived yet
    request_timeout: float = 600.0


class ImportFailed(Exception):
    """The import stopped (a service refused in a way no retry mends, or stayed away); what was
    done until then is in `outcome`."""

    def __init__(self, message: str, outcome: ImportOutcome) -> None:
        super().__init__(message)
        self.outcome = outcome


@dataclass
class KindTally:
    kind: str
    service: str
    records: int
    imported: int = 0
    unchanged: int = 0
    events: int = 0
    retries: int = 0
    rejected: set[int] = field(default_factory=set)
    started: float | None = None
    finished: float | None = None

    @property
    def seconds(self) -> float:
        if self.started is None or self.finished is None:
            return 0.0
        return self.finished - self.started

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


@dataclass
class ImportOutcome:
    bundle_id: str
    checksum: str
    tallies: dict[str, KindTally]
    problems: list[RowProblem] = field(default_factory=list)
    seconds: float = 0.0  # the whole import, until the last events reached every service
    request_seconds: float = 0.0  # of which the phases' requests (the waits between them not)
    waits: dict[int, float] = field(default_factory=dict)  # phase -> propagation wait after it
    catch_up_seconds: float = 0.0  # the wait after the last phase: downstream catching up

    @property
    def events(self) -> int:
        """Events the owning services appended (not those their consumers add downstream)."""
        return sum(tally.events for tally in self.tallies.values())

    @property
    def rate(self) -> float:
        """Events appended per second of the phases' requests."""
        return self.events / self.request_seconds if self.request_seconds > 0 else 0.0

    @property
    def rejected(self) -> int:
        return sum(len(tally.rejected) for tally in self.tallies.values())


Advance = Callable[[str, int], None]


def _refers_ahead(error: Mapping[str, Any]) -> bool:
    reason = str(error.get("reason", "")).lower()
    return any(phrase in reason for phrase in NOT_YET_RECEIVED)


class HistoryImport:
    def __init__(
        self,
        bundle: Bundle,
        urls: Mapping[str, str],
        bearer: Callable[[], str],
        targets: Targets,
        options: ImportOptions,
        advance: Advance,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        wait: Callable[[], Awaitable[float]] | None = None,
    ) -> None:
        """`transport` and `wait` replace the network and the propagation wait (unit tests)."""
        self.bundle = bundle
        self.urls = urls
        self.bearer = bearer
        self.targets = targets
        self.options = options
        self.advance = advance
        self.outcome = ImportOutcome(
            bundle.manifest.bundle_id,
            bundle.checksum,
            {
                kind_file.kind.name: KindTally(
                    kind_file.kind.name, kind_file.kind.service, kind_file.records
                )
                for kind_file in bundle.files
            },
        )
        self.deferred: dict[str, dict[int, list[Mapping[str, Any]]]] = {}
        self.deferring = True
        self.wait = wait or self._wait_until_delivered
        self.client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(options.request_timeout, connect=10.0),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )

    # -- the whole import ------------------------------------------------------------------------
    async def run(self) -> ImportOutcome:
        outcome = self.outcome
        started = time.monotonic()
        try:
            for kind_file in self.bundle.files:
                self._reject_invalid(kind_file)
            phases = self.bundle.phases()
            for index, phase in enumerate(phases):
                began = time.monotonic()
                await self._run_phase(phase)
                outcome.request_seconds += time.monotonic() - began
                waited = await self._wait()
                for round_number in range(self.options.deferred_rounds):
                    if not any(self.deferred.get(kf.kind.name) for kf in phase):
                        break
                    self.deferring = round_number < self.options.deferred_rounds - 1
                    began = time.monotonic()
                    await self._resend_deferred(phase)
                    outcome.request_seconds += time.monotonic() - began
                    waited += await self._wait()
                self.deferring = True
                if index < len(phases) - 1:
                    outcome.waits[phase[0].kind.phase] = waited
                else:
                    outcome.catch_up_seconds = waited
        finally:
            outcome.seconds = time.monotonic() - started
            await self.client.aclose()
        return outcome

    def _fail(self, message: str) -> ImportFailed:
        return ImportFailed(message, self.outcome)

    async def _wait(self) -> float:
        return await self.wait()

    async def _wait_until_delivered(self) -> float:
        try:
            return await wait_until_delivered(self.targets, self.options.wait_seconds)
        except (OSError, TimeoutError) as error:
            raise self._fail(f"cannot see the events' progress: {error!r}") from error
        except Exception as error:  # NotDelivered, or NATS' own errors
            raise self._fail(str(error)) from error

    def _reject_invalid(self, kind_file: KindFile) -> None:
        tally = self.outcome.tallies[kind_file.kind.name]
        self.outcome.problems.extend(kind_file.problems)
        lines = {problem.line for problem in kind_file.problems}
        tally.rejected |= lines
        if lines:
            self.advance(kind_file.kind.name, len(lines))

    async def _run_phase(self, phase: list[KindFile]) -> None:
        """Kinds of different services at once; one service's kinds one after another (they may
        touch the same aggregates)."""
        by_service: dict[str, list[KindFile]] = {}
        for kind_file in phase:
            by_service.setdefault(kind_file.kind.service, []).append(kind_file)

        async def in_order(files: list[KindFile]) -> None:
            for kind_file in files:
                await self._import_kind(kind_file)

        try:
            async with asyncio.TaskGroup() as group:
                for files in by_service.values():
                    group.create_task(in_order(files))
        except* ImportFailed as failures:
            raise failures.exceptions[0] from None

    async def _import_kind(self, kind_file: KindFile) -> None:
        tally = self.outcome.tallies[kind_file.kind.name]
        tally.started = time.monotonic()
        size = max(1, self.options.chunk)
        chunks = [kind_file.valid[at : at + size] for at in range(0, len(kind_file.valid), size)]
        gate = asyncio.Semaphore(max(1, self.options.parallel))

        async def send(numbers: list[int]) -> None:
            async with gate:
                await self._send(kind_file, numbers)

        try:
            async with asyncio.TaskGroup() as group:
                for numbers in chunks:
                    group.create_task(send(numbers))
        except* ImportFailed as failures:
            raise failures.exceptions[0] from None
        tally.finished = time.monotonic()

    async def _resend_deferred(self, phase: list[KindFile]) -> None:
        for kind_file in phase:
            waiting = self.deferred.pop(kind_file.kind.name, {})
            numbers = sorted(waiting)
            size = max(1, self.options.chunk)
            for at in range(0, len(numbers), size):
                await self._send(kind_file, numbers[at : at + size])
            tally = self.outcome.tallies[kind_file.kind.name]
            tally.finished = time.monotonic()

    # -- one chunk -------------------------------------------------------------------------------
    async def _send(self, kind_file: KindFile, numbers: list[int]) -> None:
        kind = kind_file.kind.name
        tally = self.outcome.tallies[kind]
        pending = list(numbers)
        while pending:
            body, first_line = kind_file.body(pending)
            response = await self._post(kind_file, body, first_line, tally)
            if response.status_code == 200:
                report = response.json()
                tally.imported += int(report["imported"])
                tally.unchanged += int(report["unchanged"])
                tally.events += int(report["events"])
                self.advance(kind, len(pending))
                return
            if response.status_code == 413 and len(pending) > 1:
                half = len(pending) // 2
                await self._send(kind_file, pending[:half])
                await self._send(kind_file, pending[half:])
                return
            problem = _json(response)
            if response.status_code != 422 or not str(problem.get("type", "")).endswith(REJECTED):
                raise self._fail(_refusal(kind_file, first_line, response))
            by_line: dict[int, list[Mapping[str, Any]]] = {}
            for error in problem.get("errors") or []:
                by_line.setdefault(int(error.get("line", 0)), []).append(error)
            named = [number for number in pending if number in by_line]
            if not named:
                raise self._fail(
                    f"{kind}: {kind_file.kind.service} rejected lines {pending[0]}-{pending[-1]} "
                    f"without naming one of them: {problem.get('detail', '')}"
                )
            for number in named:
                self._settle_rejected(kind_file, number, by_line[number])
            pending = [number for number in pending if number not in by_line]

    def _settle_rejected(
        self, kind_file: KindFile, number: int, errors: list[Mapping[str, Any]]
    ) -> None:
        kind = kind_file.kind.name
        if self.deferring and all(_refers_ahead(error) for error in errors):
            self.deferred.setdefault(kind, {})[number] = errors
            return
        for error in errors:
            self.outcome.problems.append(
                RowProblem(
                    kind,
                    kind_file.path.name,
                    number,
                    error.get("source_id") or kind_file.source_ids.get(number),
                    str(error.get("field", "record")),
                    str(error.get("reason", "")),
                    "service",
                )
            )
        self.outcome.tallies[kind].rejected.add(number)
        self.advance(kind, 1)

    async def _post(
        self, kind_file: KindFile, body: bytes, first_line: int, tally: KindTally
    ) -> httpx.Response:
        """POST with retries while the service is away (see the module's docstring)."""
        kind = kind_file.kind
        url = f"{self.urls[kind.service]}/v1/imports/{kind.name}"
        deadline = time.monotonic() + self.options.retry_seconds
        delay = 0.25
        transient = 0
        while True:
            try:
                response = await self.client.post(
                    url,
                    content=body,
                    params={"first_line": str(first_line)},
                    headers={
                        "Authorization": f"Bearer {self.bearer()}",
                        "Content-Type": NDJSON,
                        "Import-Bundle": self.bundle.manifest.bundle_id,
                        "Import-Bundle-Checksum": self.bundle.checksum,
                    },
                )
            except httpx.TransportError as error:
                why = f"{type(error).__name__}: {error}"
            else:
                if response.status_code in RESTARTING:
                    why = f"{response.status_code} {response.reason_phrase}"
                elif response.status_code in TRANSIENT and transient < TRANSIENT_TRIES:
                    transient += 1
                    why = f"{response.status_code} {response.reason_phrase}"
                else:
                    return response
            if time.monotonic() + delay > deadline:
                raise self._fail(
                    f"{kind.service} did not take {kind.name} (lines from {first_line}) within "
                    f"{self.options.retry_seconds:.0f} s; last: {why}"
                )
            tally.retries += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _refusal(kind_file: KindFile, first_line: int, response: httpx.Response) -> str:
    problem = _json(response)
    text = f"{problem.get('title', '')}: {problem.get('detail', '')}".strip(": ")
    return (
        f"{kind_file.kind.service} refused {kind_file.kind.name} (lines from {first_line}): "
        f"{response.status_code} {text or response.text[:300]}"
    )


async def import_bundle(
    bundle: Bundle,
    urls: Mapping[str, str],
    bearer: Callable[[], str],
    targets: Targets,
    options: ImportOptions | None = None,
    advance: Advance | None = None,
    **seams: Any,
) -> ImportOutcome:
    """Import `bundle` (read and checked with `bundle_files.load_bundle`); raises ImportFailed.
    `seams`: `transport=` and `wait=` of HistoryImport (unit tests)."""
    return await HistoryImport(
        bundle,
        urls,
        bearer,
        targets,
        options or ImportOptions(),
        advance or (lambda _k, _n: None),
        **seams,
    ).run()
