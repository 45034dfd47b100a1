"""The hand-made identifiers equal what the `uuid` module makes (pure, no I/O)."""

from __future__ import annotations

import uuid

from libs.domain.identifiers import name_id, random_ids


def test_name_ids_equal_uuid5() -> None:
    for namespace in (str(uuid.uuid4()) for _ in range(50)):
        for name in ("AssessmentCompleted", "a1/q-17", "", "ünïcode/名前"):
            assert name_id(namespace, name) == str(uuid.uuid5(uuid.UUID(namespace), name))


def test_random_ids_are_version_4_uuids_and_distinct() -> None:
    ids = random_ids(1_000)
    parsed = [uuid.UUID(value) for value in ids]
    assert [str(value) for value in parsed] == ids  # canonical text
    assert {value.version for value in parsed} == {4}
    assert {value.variant for value in parsed} == {uuid.RFC_4122}
    assert len(set(ids)) == 1_000
    assert random_ids(0) == []
