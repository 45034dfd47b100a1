"""The service benchmark's load generator, run as its own process so that its CPU is not the
measured server's: `python -m bench.loadgen <spec.json>` prints one JSON line of figures.

A spec names the base URL, a bearer token, the concurrency, a time bound and a request budget, and
either `findings` (each worker records findings on its own assessment, cycling through the
question ids, as an on-site team does), `paths` (GETs, cycled) or `requests` (prepared commands,
each sent once, in order, by whichever worker is free: `method`, `path`, `body`,
`idempotency_key`; the run ends when they are used up)."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from typing import Any

import httpx

RECORDINGS_PER_ASSESSMENT = 19


def percentile(samples: list[float], share: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    base_url: str = spec["base_url"]
    headers = {"Authorization": f"Bearer {spec['token']}"}
    concurrency: int = spec["concurrency"]
    seconds: float = spec["seconds"]
    budget: int = spec.get("max_requests", 1_000_000_000)
    warmup: int = spec.get("warmup", 0)
    latencies: list[float] = []
    errors: list[str] = []
    issued = 0
    prepared: list[dict[str, Any]] = spec.get("requests", [])
    taken = 0  # prepared requests handed out so far
    if "requests" in spec:
        budget = min(budget, len(prepared) - warmup)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    def next_request(worker: int, count: int) -> tuple[str, str, Any, str | None]:
        nonlocal taken
        if "requests" in spec:
            request = prepared[taken]
            taken += 1
            return (
                request["method"],
                request["path"],
                request.get("body"),
                request.get("idempotency_key"),
            )
        if "findings" in spec:
            assessments = spec["findings"]["assessments"]
            questions = spec["findings"]["questions"]
            # The domain allows 20 recordings of a finding (as on site): after 19 passes over the
            # catalogue a worker moves on to its next assessment (worker + concurrency * n).
            passes = count // (len(questions) * RECORDINGS_PER_ASSESSMENT)
            per_worker = len(assessments) // concurrency
            assessment_id = assessments[worker + concurrency * (passes % per_worker)]
            question = questions[count % len(questions)]
            body = {
                "result": "non_compliant" if count % 10 == 0 else "compliant",
                "evidence": f"Benchmark observation {count}.",
                "evidence_refs": [f"doc-{count}"],
            }
            return "PUT", f"/v1/assessments/{assessment_id}/findings/{question}", body, None
        paths = spec["paths"]
        return "GET", paths[(worker + count * concurrency) % len(paths)], None, None

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60.0) as client:

        async def one(worker: int, count: int) -> tuple[float, str | None]:
            method, path, body, key = next_request(worker, count)
            sent = headers if key is None else {**headers, "Idempotency-Key": key}
            started = time.perf_counter()
            try:
                response = await client.request(method, path, json=body, headers=sent)
            except httpx.HTTPError as error:
                return time.perf_counter() - started, f"{method} {path}: {error!r}"
            elapsed = time.perf_counter() - started
            if response.status_code >= 400:
                return elapsed, f"{method} {path}: {response.status_code} {response.text[:200]}"
            return elapsed, None

        for index in range(warmup):  # connections, caches and code paths warm on both sides
            await one(index % concurrency, index)
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()

        async def worker(number: int) -> None:
            nonlocal issued
            count = 0
            while time.perf_counter() < deadline and issued < budget:
                issued += 1
                elapsed, error = await one(number, warmup + count)
                count += 1
                if error is None:
                    latencies.append(elapsed)
                else:
                    errors.append(error)

        await asyncio.gather(*(worker(number) for number in range(concurrency)))
        wall = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "error_samples": errors[:3],
        "seconds": wall,
        "rate": len(latencies) / wall if wall else 0.0,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else float("nan"),
        "taken": taken,  # prepared requests sent (warm-up included)
    }


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as spec_file:
        spec = json.load(spec_file)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run(spec))
    else:
        result = uvloop.run(run(spec))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
