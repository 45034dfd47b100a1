"""`python3 bw.py seed`: create a realistic programme through the running services' REST commands
(`python3 bw.py up`, or the URLs given by flags / environment); doubles as demo data.
`python3 bw.py seed --history DIR [--seed N] [--scale history|programme]` writes a programme's past
as a history bundle instead (tools/history: no service needed; import it with
`python3 bw.py ops import DIR`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

import httpx

from bench.programme import Endpoints, Programme, Scale, Tally
from bench.progress import ProgressBar

QUICK = Scale(factories=10, cycles=2)


def build_parser() -> argparse.ArgumentParser:
    full = Scale()
    parser = argparse.ArgumentParser(prog="python3 bw.py seed", description=__doc__)
    parser.add_argument(
        "--assessment-url",
        default=os.environ.get("BW_ASSESSMENT_URL", "http://127.0.0.1:8001"),
        help="the assessment service (default $BW_ASSESSMENT_URL or http://127.0.0.1:8001)",
    )
    parser.add_argument(
        "--remediation-url",
        default=os.environ.get("BW_REMEDIATION_URL", "http://127.0.0.1:8002"),
        help="the remediation service (default $BW_REMEDIATION_URL or http://127.0.0.1:8002)",
    )
    parser.add_argument(
        "--advisory-url",
        default=os.environ.get("BW_ADVISORY_URL", "http://127.0.0.1:8005"),
        help="the advisory service (default $BW_ADVISORY_URL or http://127.0.0.1:8005)",
    )
    parser.add_argument(
        "--no-advisory",
        action="store_true",
        help="no training sessions, surveys or advisory visits (assessments and plans only)",
    )
    parser.add_argument(
        "--scale",
        choices=["full", "quick"],
        default="full",
        help=f"full: {full.factories:,} factories x {full.cycles} cycles (hours with today's "
        f"services); quick: {QUICK.factories} x {QUICK.cycles}, under a minute",
    )
    parser.add_argument("--factories", type=int, help="overrides the scale's factory count")
    parser.add_argument("--cycles", type=int, help="overrides the scale's yearly cycles")
    parser.add_argument(
        "--countries",
        help=f"comma-separated ISO codes (default {','.join(full.countries)})",
    )
    parser.add_argument(
        "--concurrency", type=int, default=full.concurrency, help="factories driven at once"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=full.seed,
        help="the same seed replays the same programme (idempotency keys): a rerun resumes",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="start no new factory after this long (the ones in flight finish)",
    )
    parser.add_argument(
        "--summary-json",
        default=None,
        help="also write the figures and some assessment/factory ids to this file (the benchmark)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--history",
        metavar="DIR",
        help="write a history bundle into DIR instead (python -m tools.history generate DIR "
        "[--seed N] [--scale history|programme] [--factories N]; --help after it for more)",
    )
    return parser


def history_arguments(argv: list[str]) -> list[str] | None:
    """`--history DIR ...` as the history generator's arguments (`generate DIR ...`), else None."""
    for position, argument in enumerate(argv):
        if argument == "--history" and position + 1 < len(argv):
            rest = argv[:position] + argv[position + 2 :]
            return ["generate", argv[position + 1], *rest]
        if argument.startswith("--history="):
            rest = argv[:position] + argv[position + 1 :]
            return ["generate", argument.split("=", 1)[1], *rest]
    return None


def scale_from(arguments: argparse.Namespace) -> Scale:
    base = QUICK if arguments.scale == "quick" else Scale()
    countries = base.countries
    if arguments.countries:
        countries = tuple(code.strip().upper() for code in arguments.countries.split(","))
    scale = Scale(
        factories=arguments.factories or base.factories,
        cycles=arguments.cycles or base.cycles,
        countries=countries,
        concurrency=arguments.concurrency,
        seed=arguments.seed,
    )
    if scale.factories < 1 or scale.cycles < 1 or scale.concurrency < 1 or not scale.countries:
        raise SystemExit("seed: factories, cycles and concurrency must be at least 1")
    return scale


async def seed(
    endpoints: Endpoints, scale: Scale, *, max_seconds: float | None = None, quiet: bool = False
) -> tuple[Tally, float]:
    """Run the programme; the tally and the wall-clock seconds it took."""
    bar = ProgressBar(scale.factories, "seed")

    def progress(tally: Tally) -> None:
        if not quiet:
            bar.update(tally.factories_done, f"{sum(tally.requests.values()):,} requests")

    limits = httpx.Limits(max_connections=scale.concurrency * 2, max_keepalive_connections=64)
    started = time.monotonic()
    deadline = None if max_seconds is None else started + max_seconds
    async with httpx.AsyncClient(limits=limits) as client:
        tally = await Programme(endpoints, scale, client, on_progress=progress).run(deadline)
    if not quiet:
        bar.finish()
    return tally, time.monotonic() - started


def describe(tally: Tally, seconds: float) -> str:
    requests = sum(tally.requests.values())
    rate = tally.non_compliances / tally.findings if tally.findings else 0.0
    lines = [
        f"factories          {tally.factories_done:,} ({len(tally.failures)} failed)",
        f"assessments        {len(tally.assessments):,}",
        f"findings           {tally.findings:,} ({tally.non_compliances:,} non-compliant, "
        f"{rate:.1%})",
        f"events             {tally.total_events:,} "
        + " ".join(f"{service}={count:,}" for service, count in sorted(tally.events.items())),
        f"requests           {requests:,} in {seconds:,.1f} s ({requests / seconds:,.0f}/s)",
    ]
    lines += [f"  {kind:<22} {count:,}" for kind, count in sorted(tally.requests.items())]
    if tally.advisory is not None:
        advisory = tally.advisory
        forms = advisory.survey_forms
        lines += [
            "training sessions  "
            + ", ".join(
                f"{count:,} {status}" for status, count in sorted(advisory.sessions.items())
            )
            + f" ({advisory.open_sessions:,} open sessions of several factories)",
            f"participants       {advisory.participants:,} ({advisory.attendance_lines:,} "
            f"sign-in lines; survey forms {forms['pre']:,} pre, {forms['post']:,} post)",
            "advisory visits    "
            + ", ".join(f"{count:,} {status}" for status, count in sorted(advisory.visits.items()))
            + f" ({advisory.advisory_days:,.1f} advisory days)",
        ]
    lines += [f"failure: {failure}" for failure in tally.failures[:10]]
    return "\n".join(lines)


def summary_of(tally: Tally, seconds: float, samples: int = 500) -> dict[str, Any]:
    return {
        "seconds": seconds,
        "factories": tally.factories_done,
        "failures": len(tally.failures),
        "assessments": len(tally.assessments),
        "findings": tally.findings,
        "non_compliances": tally.non_compliances,
        "requests": sum(tally.requests.values()),
        "events": dict(tally.events),
        "sample_assessments": tally.assessments[-samples:],
        "factory_countries": dict(list(tally.factory_countries.items())[-samples:]),
        "advisory": None if tally.advisory is None else tally.advisory.summary(),
    }


def main(argv: list[str] | None = None) -> int:
    history = history_arguments(sys.argv[1:] if argv is None else list(argv))
    if history is not None:
        from tools.history.__main__ import main as generate_history

        return generate_history(history)
    arguments = build_parser().parse_args(argv)
    scale = scale_from(arguments)
    endpoints = Endpoints(
        arguments.assessment_url.rstrip("/"),
        arguments.remediation_url.rstrip("/"),
        None if arguments.no_advisory else arguments.advisory_url.rstrip("/"),
    )
    services = [endpoints.assessment_url, endpoints.remediation_url]
    if endpoints.advisory_url:
        services.append(endpoints.advisory_url)
    print(
        f"seed: {scale.factories:,} factories x {scale.cycles} cycles in "
        f"{', '.join(scale.countries)} against {', '.join(services)}",
        flush=True,
    )
    tally, seconds = asyncio.run(
        seed(endpoints, scale, max_seconds=arguments.max_seconds, quiet=arguments.quiet)
    )
    print(describe(tally, seconds), flush=True)
    if arguments.summary_json:
        with open(arguments.summary_json, "w", encoding="utf-8") as summary:
            json.dump(summary_of(tally, seconds), summary)
    return 1 if tally.failures else 0


if __name__ == "__main__":
    sys.exit(main())
