"""Every service's tamper-evident history, through the service kit (docs/history-chain.md): the
signer of its tree heads (a component, `BW_HISTORY_KEYS`, `BW_TREE_HEAD_SECONDS`) and the public
routes that serve them. `build_app` adds both to every service."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.events.treehead import (
    HistoryKeyError,
    TreeHead,
    TreeHeadSigner,
    latest_tree_head,
    parse_history_keys,
    plain_driver,
    tree_heads_after,
)
from libs.servicekit.problems import NotFound
from libs.servicekit.settings import ServiceSettings

INT64_MAX = 2**63 - 1


class HistorySettings(BaseSettings):
    """The history signer's settings, read from the environment with the service's own."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    # a JSON array of private Ed25519 JWKs; the first signs, the others are older keys
    history_keys: str = Field("", validation_alias="BW_HISTORY_KEYS")
    tree_head_seconds: float = Field(60.0, gt=0, le=86_400, validation_alias="BW_TREE_HEAD_SECONDS")


def tree_head_signer(
    settings: ServiceSettings,
    engine: AsyncEngine,
    schema: str,
    history: HistorySettings | None = None,
) -> TreeHeadSigner:
    """The service's signer. Outside development a service without `BW_HISTORY_KEYS` does not
    start; in development it signs with a key it generates once and keeps in its schema."""
    history = history or HistorySettings()
    try:
        keys = parse_history_keys(history.history_keys)
    except HistoryKeyError as error:
        raise ValueError(str(error)) from None
    if not keys and not settings.is_development:
        raise ValueError(
            "BW_HISTORY_KEYS must be set outside development: a JSON array of private Ed25519 "
            'JWKs ({"kty": "OKP", "crv": "Ed25519", "d": ..., "x": ..., "kid": ...}) that sign '
            "the history's tree heads, the signing one first (docs/history-chain.md)"
        )
    return TreeHeadSigner(engine, schema, keys, interval=history.tree_head_seconds)


class TreeHeadPublic(BaseModel):
    """A signed tree head: the Merkle root over every stream's last event hash as of `position`
    (the event table's position), with the counts, signed by the service's history key."""

    format: str = Field(description="`betterwork-tree-head/1`.")
    service: str
    position: int = Field(description="The event position the head is as of.")
    stream_count: int
    event_count: int
    root: str = Field(description="RFC 6962 Merkle tree hash, hex.")
    signed_at: str = Field(description="UTC, microseconds.")
    kid: str
    public_key: dict[str, str] = Field(description="The signing key, an Ed25519 public JWK.")
    signature: str = Field(
        description="Ed25519 over the canonical JSON (sorted keys, no spaces, UTF-8) of every "
        "other member, base64url."
    )


class TreeHeadPage(BaseModel):
    items: list[TreeHeadPublic]
    next_after: int | None = Field(
        description="Pass as `after` for the next page; null when this is the last page."
    )


class HistoryKeysPublic(BaseModel):
    keys: list[dict[str, str]] = Field(description="The public JWKs the service signs heads with.")


def _signer(request: Request) -> TreeHeadSigner:
    signer: TreeHeadSigner = request.app.state.tree_head_signer
    return signer


Signer = Annotated[TreeHeadSigner, Depends(_signer)]

history_router = APIRouter(prefix="/v1/history", tags=["history"])


def _public(head: TreeHead) -> TreeHeadPublic:
    return TreeHeadPublic.model_validate(head.document())


@history_router.get("/tree-head", response_model=TreeHeadPublic)
async def get_tree_head(signer: Signer) -> Any:
    """The latest signed tree head of this service's history (public)."""
    async with signer.engine.connect() as connection:
        driver = await plain_driver(connection)
        head = await latest_tree_head(driver, signer.schema)
    if head is None:
        raise NotFound("No tree head has been signed yet.")
    return _public(head)


@history_router.get("/tree-heads", response_model=TreeHeadPage)
async def list_tree_heads(
    signer: Signer,
    after: Annotated[
        int, Query(ge=0, le=INT64_MAX, description="Heads after this position (0: from the first).")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size.")] = 100,
) -> Any:
    """Every signed tree head after a position, oldest first (public)."""
    async with signer.engine.connect() as connection:
        driver = await plain_driver(connection)
        heads = await tree_heads_after(driver, signer.schema, after, limit + 1)
    page = heads[:limit]
    return TreeHeadPage(
        items=[_public(head) for head in page],
        next_after=page[-1].position if len(heads) > limit else None,
    )


@history_router.get("/keys", response_model=HistoryKeysPublic)
async def history_keys(signer: Signer) -> Any:
    """The public keys this service signs its tree heads with, the signing one first (public)."""
    return HistoryKeysPublic(keys=[key.public_jwk() for key in await signer.signing_keys()])
