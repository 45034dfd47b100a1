"""The request types that belong to FastAPI: identifiers in URL paths. The pure field types
(`SafeLine`, `SafeText`, `Token`, `ResourceId`, `PlausibleDate`) live in `libs.domain.types`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from libs.domain.types import ID_MAX_LENGTH, ID_PATTERN

PathId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=ID_MAX_LENGTH,
        pattern=ID_PATTERN,
        description="An identifier: letters, digits, `_`, `.`, `-`; at most 64 characters.",
    ),
]
"""An identifier in a URL path: refused with a 422 before any lookup when malformed."""
