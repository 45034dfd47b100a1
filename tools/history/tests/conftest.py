"""Bundles generated once per test session (pure: temporary files only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.history.generate import Generated, generate
from tools.history.shape import HISTORY


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Generated]:
    """The 2001-2010 programme as `python3 bw.py seed --history DIR` writes it (seed 1)."""
    directory = tmp_path_factory.mktemp("history")
    return directory, generate(directory, HISTORY, seed=1)


@pytest.fixture(scope="session")
def small_history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Generated]:
    """The same programme with 40 factories (`--factories 40`)."""
    directory = tmp_path_factory.mktemp("small-history")
    return directory, generate(directory, HISTORY.with_factories(40), seed=7)
