"""The committed OpenAPI documents (docs/openapi/) are what the services serve."""

from __future__ import annotations

import pytest

from tools.openapi import document, path_for, render, services


def test_every_service_has_a_document() -> None:
    assert {"assessment", "remediation", "buyer_sharing"} <= set(services())


@pytest.mark.parametrize("service", services())
def test_the_committed_document_is_current(service: str) -> None:
    """CI's check: regenerate from the code and compare (python3 bw.py openapi)."""
    path = path_for(service)
    assert path.exists(), f"{path} is missing: run python3 bw.py openapi"
    assert path.read_text() == render(document(service)), (
        f"{path} is stale: run python3 bw.py openapi"
    )
