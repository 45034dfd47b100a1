"""The JSON-LD contexts a credential names, kept verbatim as data files (README.md: sources and
licences); the offline bundle carries them."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from libs.credentials.dcc import DCC_CONTEXT, UNTP_VERSION, VC_CONTEXT

CONTEXT_FILES = {
    VC_CONTEXT: "credentials-v2.jsonld",
    DCC_CONTEXT: f"untp-dcc-{UNTP_VERSION}.jsonld",
}


@cache
def _load() -> dict[str, str]:
    folder = resources.files(__name__)
    return {
        url: folder.joinpath(name).read_text(encoding="utf-8")
        for url, name in CONTEXT_FILES.items()
    }


def load_contexts() -> dict[str, dict[str, Any]]:
    """Context URL -> the context document (a fresh copy: callers may keep it)."""
    return {url: json.loads(text) for url, text in _load().items()}
