"""Kept answers: served only at the version they were made at, replaced by a newer version and
never by an older one, bounded by the least recently used."""

from __future__ import annotations

from libs.servicekit.answers import VersionedAnswers


def test_an_answer_is_served_only_at_its_version() -> None:
    answers = VersionedAnswers(capacity=4)
    made = answers.put("page", 3, b"{}")
    assert answers.get("page", 3) == made
    assert made.etag.startswith('"') and len(made.etag) == 34
    assert answers.get("page", 4) is None, "the read models moved on"


def test_an_older_answer_never_replaces_a_newer_one() -> None:
    answers = VersionedAnswers(capacity=4)
    answers.put("page", 5, b"new")
    answers.put("page", 4, b"old")  # a slow request that read the version before a change
    kept = answers.get("page", 5)
    assert kept is not None and kept.payload == b"new"


def test_the_least_recently_used_goes_first() -> None:
    answers = VersionedAnswers(capacity=2)
    answers.put("a", 1, b"a")
    answers.put("b", 1, b"b")
    assert answers.get("a", 1) is not None  # a is now the most recent
    answers.put("c", 1, b"c")
    assert answers.get("b", 1) is None
    assert answers.get("a", 1) is not None and answers.get("c", 1) is not None
