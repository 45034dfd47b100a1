"""The public pages' in-process answers (pagecache.py)."""

from __future__ import annotations

from services.buyer_sharing.pagecache import PublicPages


def test_public_answers_are_kept_per_version_and_the_least_recent_go_first() -> None:
    pages = PublicPages(capacity=2)
    first = pages.put(("factories", None), 3, b"[1]")
    assert pages.get(("factories", None), 3) == first
    assert first.etag.startswith('"') and len(first.etag) == 34
    assert pages.get(("factories", None), 4) is None  # the read models moved on
    pages.put(("factories", None), 2, b"[0]")  # made from an older version: not kept
    assert pages.get(("factories", None), 3) == first
    pages.put(("factories", "KH"), 3, b"[2]")
    pages.get(("factories", None), 3)
    pages.put(("low-compliance", None, None), 3, b"[]")  # over capacity: KH's goes
    assert pages.get(("factories", "KH"), 3) is None
    assert pages.get(("factories", None), 3) == first
