"""The story's chapters about the report's verifiable credential (docs/verifying.md): the buyer
takes the credential named in the report's webhook, downloads its offline bundle from buyer sharing
and keeps it; at the end, after the factory revoked its access, the buyer verifies the bundle it
kept with no network (the same `verify_bundle` as `python3 bw.py verify`): a revoked grant does
not revoke a credential already held."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from libs.credentials.verify import verify_bundle
from tools.demo.common import StoryError
from tools.demo.receiver import Delivery
from tools.demo.stage import Stage

BUNDLE_MEDIA_TYPE = "application/vnd.betterwork.credential-bundle+json"


async def download_the_credential(
    story: Stage, buyer: dict[str, str], completed: Delivery
) -> dict[str, Any]:
    """The bundle of the credential the `AssessmentCompleted` webhook names, fetched where the
    buyer's portfolio report links it; written to `story.credential_bundle_path` if set."""
    out = story.outcome
    credential_id = completed.event.get("data", {}).get("credential_id")
    if not credential_id:
        raise StoryError(f"the AssessmentCompleted webhook names no credential: {completed.event}")
    story.say("buyer", f"the report's webhook names the credential {credential_id}")

    async def linked() -> dict[str, Any] | None:
        reports = await story.call(
            "buyer", buyer, "buyer_sharing", "GET",
            f"/v1/buyers/{out.buyer_id}/factories/{out.factory_id}/reports", quiet=True,
        )  # fmt: skip
        for report in reports:
            credential = report.get("credential") or {}
            if report.get("assessment_id") == out.assessment_id and credential.get("id"):
                return dict(credential)
        return None

    credential = await story.eventually("the report's credential in the portfolio", linked)
    if credential["id"] != credential_id:
        raise StoryError(f"the portfolio links {credential['id']}, the webhook {credential_id}")
    response = await story.request(buyer, "buyer_sharing", "GET", _path(credential["bundle_href"]))
    if response.status_code != 200 or not response.headers.get("content-type", "").startswith(
        BUNDLE_MEDIA_TYPE
    ):
        raise StoryError(
            f"the bundle answered {response.status_code} "
            f"{response.headers.get('content-type')}: {response.text[:300]}"
        )
    bundle: dict[str, Any] = response.json()
    story.say("buyer", f"GET buyer_sharing{_path(credential['bundle_href'])} → 200 "
              f"({len(response.content):,} bytes: the credential, the report, the issuer's DID "
              "document, the status list and the contexts)")  # fmt: skip
    out.credential_id, out.credential_bundle = credential_id, bundle
    if story.credential_bundle_path is not None:
        path = Path(story.credential_bundle_path)
        text = json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
        await asyncio.to_thread(path.write_text, text, encoding="utf-8")
        story.say("buyer", f"kept it as {path}")
    return bundle


def verify_offline(story: Stage) -> None:
    """The buyer verifies the bundle it kept, with no network, and prints each check."""
    out = story.outcome
    story.say("story", "16. Access revoked, the buyer still holds the report's credential and "
              "verifies it offline: no request to any service")  # fmt: skip
    verification = verify_bundle(out.credential_bundle)
    for check in verification.checks:
        story.say("verify", f"{'PASS' if check.passed else 'FAIL'} {check.name}: {check.reason}")
    if not verification.ok:
        failed = ", ".join(check.name for check in verification.failed)
        raise StoryError(f"the credential bundle did not verify: {failed}")
    where = story.credential_bundle_path or "the bundle"
    story.say("verify", f"VERIFIED offline ({len(verification.checks)} checks); again at any "
              f"time: python3 bw.py verify {where}")  # fmt: skip


def _path(href: str) -> str:
    """A link's path and query (the demo reaches each service at its own URL)."""
    parts = urlsplit(href)
    return parts.path + (f"?{parts.query}" if parts.query else "")
