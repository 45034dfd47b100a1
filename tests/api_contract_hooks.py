"""Schemathesis checks of our own, loaded by `tests/test_api_contract.py` (SCHEMATHESIS_HOOKS).

The built-in `positive_data_acceptance` cannot tell a request the document wrongly calls valid
from one refused by the state of the system (an assessment that is already completed, a factory
that does not exist) or by a rule of the domain the document states in prose (an OS ID's check
character). This check draws that line: a request the document calls valid may be refused for
those reasons, but never by request validation for its shape, and a 400 is only ever a cursor
this API did not issue.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis

# The history import endpoints take JSON Lines (`application/x-ndjson`): the document calls the
# body a string, sent as the text it is.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")

# Pydantic error types of validators written in code: rules the document describes in prose.
RULES_IN_PROSE = frozenset({"value_error"})


def _problem(response: Any) -> dict[str, Any]:
    try:
        body = json.loads(response.content or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@schemathesis.check
def schema_valid_request_passes_validation(ctx: Any, response: Any, case: Any) -> bool | None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    if response.headers.get("idempotent-replayed"):
        # the stored answer to an earlier request with the same generated Idempotency-Key
        return None
    problem = _problem(response)
    kind = str(problem.get("type", ""))
    if response.status_code == 400 and not kind.endswith("/invalid-cursor"):
        raise AssertionError(f"a schema-valid request got a 400 that is not a cursor: {problem}")
    if response.status_code == 422 and kind.endswith("/validation-error"):
        shape_errors = [
            error for error in problem.get("errors", []) if error.get("type") not in RULES_IN_PROSE
        ]
        if shape_errors:
            raise AssertionError(
                f"the document calls the request valid, but validation refused it: {shape_errors}"
            )
    return None
