"""`verify-history` on real PostgreSQL: a clean history passes; every tampering with the stored
events or heads is found and the first event it touched is named: an edited event, a deleted
one, two versions' data swapped, two versions reordered, a head's signature or root changed, a
stream's tail cut off (which only a signed head can tell), a chain rewritten consistently."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from libs.events.store import EventStore
from libs.events.tables import create_event_store_tables
from libs.events.tests.conftest import SCHEMA, asyncpg_url, make_registry
from libs.events.tests.test_store import append
from libs.events.treehead import HistoryKey, TreeHeadSigner, plain_driver
from libs.events.verification import Failure, HistoryReport, verify_history

pytestmark = pytest.mark.integration


async def verify(engine: AsyncEngine, *keys: HistoryKey) -> HistoryReport:
    async with engine.connect() as connection:
        return await verify_history(
            await plain_driver(connection),
            SCHEMA,
            trusted_keys=[key.public_jwk() for key in keys] if keys else None,
        )


async def sql(engine: AsyncEngine, statement: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(statement))


async def event_id(engine: AsyncEngine, stream: str, version: int) -> str:
    async with engine.connect() as connection:
        found = await connection.scalar(
            text(
                f"SELECT event_id::text FROM {SCHEMA}.event "
                "WHERE stream_id = :stream AND version = :version"
            ),
            {"stream": stream, "version": version},
        )
    return str(found)


def only(report: HistoryReport) -> Failure:
    assert not report.ok
    assert len(report.failures) == 1, [f.describe(SCHEMA) for f in report.failures]
    return report.failures[0]


@pytest.fixture
def key() -> HistoryKey:
    return HistoryKey.generate()


@pytest.fixture
def signer(engine: AsyncEngine, key: HistoryKey) -> TreeHeadSigner:
    return TreeHeadSigner(engine, SCHEMA, [key])


@pytest.fixture
async def history(store: EventStore, signer: TreeHeadSigner) -> None:
    """Stream c1 at versions 1-5 (a head after 3 and after 5), c2 and c3 alongside."""
    await append(store, "c1", 0, 1, 2, 3)
    await append(store, "c2", 0, 10)
    assert await signer.sign() is not None
    await append(store, "c1", 3, 4, 5)
    await append(store, "c3", 0, 20, 21)
    assert await signer.sign() is not None


@pytest.mark.usefixtures("history")
class TestCleanHistory:
    async def test_passes_and_counts_what_it_checked(
        self, engine: AsyncEngine, key: HistoryKey
    ) -> None:
        report = await verify(engine, key)
        assert report.ok, [f.describe(SCHEMA) for f in report.failures]
        assert (report.streams, report.events, report.heads) == (3, 8, 2)
        assert report.notes == []

    async def test_without_the_services_keys_it_says_what_it_could_not_check(
        self, engine: AsyncEngine, key: HistoryKey
    ) -> None:
        report = await verify(engine)
        assert report.ok
        assert key.kid in report.notes[0]


@pytest.mark.usefixtures("history")
class TestTamperedEvents:
    async def test_an_edited_event_is_named(self, engine: AsyncEngine) -> None:
        await sql(
            engine,
            f"UPDATE {SCHEMA}.event SET data = jsonb_set(data, '{{amount}}', '99') "
            "WHERE stream_id = 'c1' AND version = 2",
        )
        failure = only(await verify(engine))
        assert (failure.kind, failure.stream_id, failure.version) == ("altered", "c1", 2)
        assert failure.event_id == await event_id(engine, "c1", 2)

    async def test_an_edited_recording_time_or_type_is_named(self, engine: AsyncEngine) -> None:
        await sql(
            engine,
            f"UPDATE {SCHEMA}.event SET recorded_at = recorded_at - interval '1 microsecond' "
            "WHERE stream_id = 'c3' AND version = 1",
        )
        await sql(
            engine,
            f"UPDATE {SCHEMA}.event SET event_type = 'CounterReset' "
            "WHERE stream_id = 'c2' AND version = 1",
        )
        report = await verify(engine)
        named = {(f.kind, f.stream_id, f.version) for f in report.failures}
        assert named == {("altered", "c3", 1), ("altered", "c2", 1)}

    async def test_an_edited_event_whose_hash_was_rewritten_is_named(
        self, engine: AsyncEngine
    ) -> None:
        """Its own hash computed again after the edit: the next event's link tells."""
        await sql(
            engine,
            f"""
            UPDATE {SCHEMA}.event SET data = '{{"counter": "c1", "amount": 99}}',
                hash = encode({SCHEMA}.event_chain_hash(decode(prev_hash, 'hex'), stream_id,
                    version, event_id, event_type, subject,
                    '{{"counter": "c1", "amount": 99}}'::jsonb, metadata, recorded_at), 'hex')
            WHERE stream_id = 'c1' AND version = 2
            """,
        )
        report = await verify(engine)
        failure = report.failures[0]
        assert (failure.kind, failure.stream_id, failure.version) == ("altered", "c1", 2)
        assert failure.event_id == await event_id(engine, "c1", 2)
        assert "version 3" in failure.detail and "rewritten" in failure.detail

    async def test_a_deleted_event_and_the_later_ones_renumbered_is_named(
        self, engine: AsyncEngine
    ) -> None:
        third = await event_id(engine, "c1", 3)
        await sql(engine, f"DELETE FROM {SCHEMA}.event WHERE stream_id = 'c1' AND version = 2")
        for version in (3, 4, 5):
            await sql(
                engine,
                f"UPDATE {SCHEMA}.event SET version = {version - 1} "
                f"WHERE stream_id = 'c1' AND version = {version}",
            )
        failure = (await verify(engine)).failures[0]
        assert (failure.kind, failure.stream_id, failure.version) == ("removed", "c1", 2)
        assert failure.event_id == third
        assert "no longer in the stream" in failure.detail

    async def test_a_deleted_event_is_named_by_its_version(self, engine: AsyncEngine) -> None:
        await sql(engine, f"DELETE FROM {SCHEMA}.event WHERE stream_id = 'c1' AND version = 2")
        report = await verify(engine)
        failure = report.failures[0]
        assert (failure.kind, failure.stream_id, failure.version) == ("removed", "c1", 2)
        assert "version 2 is missing: version 3" in failure.detail
        # and the heads that counted it no longer reproduce
        assert [f.kind for f in report.failures[1:]] == ["tree-head"]

    async def test_two_versions_data_swapped_names_the_first(self, engine: AsyncEngine) -> None:
        await sql(
            engine,
            f"""
            UPDATE {SCHEMA}.event e SET data = other.data
            FROM {SCHEMA}.event other
            WHERE e.stream_id = 'c1' AND other.stream_id = 'c1'
              AND ((e.version = 2 AND other.version = 3) OR (e.version = 3 AND other.version = 2))
            """,
        )
        failure = only(await verify(engine))
        assert (failure.kind, failure.stream_id, failure.version) == ("altered", "c1", 2)

    async def test_two_versions_reordered_names_the_first_out_of_place(
        self, engine: AsyncEngine
    ) -> None:
        second, third = await event_id(engine, "c1", 2), await event_id(engine, "c1", 3)
        await sql(
            engine,
            f"UPDATE {SCHEMA}.event SET version = -version "
            "WHERE stream_id = 'c1' AND version IN (2, 3)",
        )
        await sql(
            engine,
            f"UPDATE {SCHEMA}.event SET version = CASE version WHEN -2 THEN 3 ELSE 2 END "
            "WHERE stream_id = 'c1' AND version IN (-2, -3)",
        )
        failure = only(await verify(engine))
        assert (failure.kind, failure.stream_id, failure.version) == ("reordered", "c1", 2)
        assert failure.event_id == third
        assert second in failure.detail

    async def test_a_truncated_tail_is_told_by_the_signed_head(self, engine: AsyncEngine) -> None:
        """The last two events of c1 deleted and its stream row set back: every chain still
        holds; the heads that signed versions 4 and 5 say what is gone."""
        fifth = await event_id(engine, "c1", 5)
        await sql(engine, f"DELETE FROM {SCHEMA}.event WHERE stream_id = 'c1' AND version > 3")
        await sql(engine, f"UPDATE {SCHEMA}.stream SET version = 3 WHERE stream_id = 'c1'")
        failure = only(await verify(engine))
        assert (failure.kind, failure.stream_id, failure.version) == ("removed", "c1", 4)
        assert fifth in failure.detail and "ends at version 3" in failure.detail

    async def test_a_tail_cut_without_hiding_it_is_told_by_the_stream_too(
        self, engine: AsyncEngine
    ) -> None:
        await sql(engine, f"DELETE FROM {SCHEMA}.event WHERE stream_id = 'c3' AND version = 2")
        report = await verify(engine)
        named = {(f.kind, f.stream_id, f.version) for f in report.failures}
        assert named == {("removed", "c3", 2)}
        assert report.failure_count == 2  # the stream row and the head

    async def test_a_consistently_rewritten_chain_is_told_by_the_signed_head(
        self, engine: AsyncEngine
    ) -> None:
        """An edit whose hashes were computed again down the stream (the database's own
        function): the chain holds, the heads do not."""
        await sql(
            engine,
            f"UPDATE {SCHEMA}.event SET data = jsonb_set(data, '{{amount}}', '99') "
            "WHERE stream_id = 'c1' AND version = 4",
        )
        for version in (4, 5):
            await sql(
                engine,
                f"""
                UPDATE {SCHEMA}.event e SET prev_hash = p.hash,
                    hash = encode({SCHEMA}.event_chain_hash(decode(p.hash, 'hex'), e.stream_id,
                        e.version, e.event_id, e.event_type, e.subject, e.data, e.metadata,
                        e.recorded_at), 'hex')
                FROM {SCHEMA}.event p
                WHERE e.stream_id = 'c1' AND e.version = {version}
                  AND p.stream_id = e.stream_id AND p.version = e.version - 1
                """,
            )
        failure = only(await verify(engine))
        assert (failure.kind, failure.stream_id, failure.version) == ("altered", "c1", 5)
        assert failure.event_id == await event_id(engine, "c1", 5)
        assert "rewritten" in failure.detail


@pytest.mark.usefixtures("history")
class TestTamperedHeads:
    async def test_a_head_whose_signature_was_changed_fails(
        self, engine: AsyncEngine, key: HistoryKey
    ) -> None:
        await sql(
            engine,
            f"UPDATE {SCHEMA}.tree_head SET signature = "
            "translate(signature, 'ABCDEFGHabcdefgh', 'BCDEFGHAbcdefgha') "
            f"WHERE position = (SELECT min(position) FROM {SCHEMA}.tree_head)",
        )
        failure = only(await verify(engine, key))
        assert failure.kind == "tree-head"
        assert "does not verify" in failure.detail

    async def test_a_head_whose_root_was_changed_fails(
        self, engine: AsyncEngine, key: HistoryKey
    ) -> None:
        await sql(engine, f"UPDATE {SCHEMA}.tree_head SET root = repeat('0', 64)")
        report = await verify(engine, key)
        assert {f.kind for f in report.failures} == {"tree-head"}
        assert report.failure_count >= 2

    async def test_a_head_re_signed_with_another_key_fails_against_the_services_keys(
        self, engine: AsyncEngine, key: HistoryKey
    ) -> None:
        await sql(engine, f"DELETE FROM {SCHEMA}.tree_head")
        await sql(engine, f"DELETE FROM {SCHEMA}.tree_head_leaf")
        forger = HistoryKey.generate()
        assert await TreeHeadSigner(engine, SCHEMA, [forger]).sign() is not None
        failure = only(await verify(engine, key))
        assert f"signed by key {forger.kid}" in failure.detail


class TestCommand:
    @pytest.fixture
    async def service_store(self, database_url: str) -> AsyncIterator[AsyncEngine]:
        """A history in the `remediation` schema, as the command finds a service's."""
        engine = create_async_engine(asyncpg_url(database_url))
        async with engine.begin() as connection:
            await connection.execute(text("CREATE SCHEMA remediation"))
            await connection.run_sync(create_event_store_tables, "remediation")
        store = EventStore(engine=engine, schema="remediation", registry=make_registry())
        await append(store, "c1", 0, 1, 2, 3)
        yield engine
        await store.close()
        await engine.dispose()

    async def run(self, database_url: str, *arguments: str) -> tuple[int, str]:
        from tools.ops.cli import cli

        result = await asyncio.to_thread(
            CliRunner().invoke,
            cli,
            ["verify-history", "--service", "remediation", *arguments],
            env={"DATABASE_URL": database_url, "BW_HISTORY_KEYS": "", "COLUMNS": "200"},
        )
        return result.exit_code, result.output

    async def test_exits_0_on_a_clean_history_and_1_naming_the_altered_event(
        self, database_url: str, service_store: AsyncEngine
    ) -> None:
        code, output = await self.run(database_url)
        assert code == 0, output
        assert "remediation" in output
        async with service_store.begin() as connection:
            altered = await connection.scalar(
                text(
                    "UPDATE remediation.event SET data = '{}' WHERE stream_id = 'c1' "
                    "AND version = 2 RETURNING event_id::text"
                )
            )
        code, output = await self.run(database_url, "--json")
        assert code == 1
        report = json.loads(output)[0]
        assert report["failures"][0] == {
            "kind": "altered",
            "detail": "its content no longer has the hash it was stored with",
            "stream_id": "c1",
            "version": 2,
            "event_id": altered,
        }
        code, output = await self.run(database_url)
        assert code == 1
        assert f"altered: service remediation, stream c1, version 2, event {altered}" in output

    async def test_trusts_the_keys_given(
        self, database_url: str, service_store: AsyncEngine, tmp_path: object
    ) -> None:
        from pathlib import Path

        signing, other = HistoryKey.generate(), HistoryKey.generate()
        assert await TreeHeadSigner(service_store, "remediation", [signing]).sign() is not None
        keys = Path(str(tmp_path)) / "keys.json"
        keys.write_text(json.dumps({"keys": [other.public_jwk()]}))
        code, output = await self.run(database_url, "--keys", str(keys))
        assert code == 1 and f"signed by key {signing.kid}" in output
        keys.write_text(json.dumps([signing.public_jwk()]))
        code, output = await self.run(database_url, "--keys", str(keys))
        assert code == 0, output
        keys.write_text("not json")
        code, output = await self.run(database_url, "--keys", str(keys))
        assert code == 1 and "--keys" in output
