"""Command line of the demo: `python -m tools.demo` (what `python3 bw.py demo` runs). Plays the story
against the five running services (`python3 bw.py up` in another terminal), with a webhook receiver of its
own on 127.0.0.1, and prints who did what and what each service answered and delivered."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import TextIO

import httpx

from libs.servicekit.settings import DEV_JWT_SECRET
from tools.demo.receiver import WebhookReceiver
from tools.demo.story import Story, StoryError, Urls

HEALTH_TIMEOUT = 5.0


class Narrator:
    """Prints `  2.3s  assessor       POST …` lines, elapsed time since the start."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started = time.monotonic()

    def __call__(self, who: str, what: str) -> None:
        elapsed = time.monotonic() - self.started
        if who == "story":
            self.stream.write(f"\n{elapsed:6.1f}s  {what}\n")
        else:
            self.stream.write(f"{elapsed:6.1f}s    {who:<14} {what}\n")
        self.stream.flush()


async def _check_running(urls: Urls) -> list[str]:
    """The services that do not answer /healthz."""
    missing = []
    async with httpx.AsyncClient(timeout=HEALTH_TIMEOUT) as client:
        for name, url in vars(urls).items():
            try:
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    continue
            except httpx.HTTPError:
                pass
            missing.append(f"{name} ({url})")
    return missing


async def run(
    urls: Urls, secret: str, wait_seconds: float, stream: TextIO, bundle_path: str | None = None
) -> int:
    missing = await _check_running(urls)
    if missing:
        stream.write(
            "demo: not running: " + ", ".join(missing) + "\n"
            "demo: start the system first, in another terminal: python3 bw.py up\n"
        )
        return 2
    say = Narrator(stream)
    async with WebhookReceiver() as receiver:
        say("story", f"The buyers' webhook receiver listens on {receiver.url('/hooks/…')}")
        story = Story(
            urls,
            secret,
            receiver,
            say,
            wait_seconds=wait_seconds,
            credential_bundle_path=bundle_path,
        )
        try:
            outcome = await story.play()
        except StoryError as error:
            stream.write(f"\ndemo: FAILED: {error}\n")
            if "SSRF" in str(error) or "not allowed" in str(error):
                stream.write(
                    "demo: notifications refuses loopback URLs; start it with "
                    "BW_WEBHOOK_ALLOW=127.0.0.0/8 BW_WEBHOOK_ALLOW_HTTP=true\n"
                )
            return 1
    say(
        "story",
        f"Done: the buyer applied {len(outcome.received)} signed messages "
        f"({outcome.duplicates} duplicate deliveries ignored) for factory {outcome.factory_id}.",
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 bw.py demo",
        description=(
            "Play the whole story (factory, buyers, assessment, plan and its publication, "
            "training and advisory, webhooks, revocation, the report's credential verified "
            "offline) against the running system and print each step. Start the system first: "
            "python3 bw.py up"
        ),
    )
    defaults = Urls()
    for name in vars(defaults):
        flag = "--" + name.replace("_", "-") + "-url"
        parser.add_argument(flag, dest=name, default=getattr(defaults, name), metavar="URL")
    parser.add_argument(
        "--jwt-secret",
        default=os.environ.get("BW_JWT_SECRET") or DEV_JWT_SECRET,
        help="HS256 secret the services accept (default: BW_JWT_SECRET or the development one)",
    )
    parser.add_argument(
        "--wait", type=float, default=30.0, help="seconds any one asynchronous effect may take"
    )
    parser.add_argument(
        "--credential-bundle",
        default="demo-credential-bundle.json",
        metavar="FILE",
        help="where the buyer keeps the report's credential bundle (default: %(default)s; verify "
        "it again with python3 bw.py verify FILE)",
    )
    args = parser.parse_args(argv)
    urls = Urls(**{name: getattr(args, name) for name in vars(defaults)})
    return asyncio.run(
        run(urls, args.jwt_secret, args.wait, sys.stdout, bundle_path=args.credential_bundle)
    )


if __name__ == "__main__":
    sys.exit(main())
