"""Identifiers of the advisory service: stream prefixes and fresh ids (pure)."""

from __future__ import annotations

from libs.domain.identifiers import random_ids

COURSE_STREAM_PREFIX = "course-"
SURVEY_STREAM_PREFIX = "survey-"
SESSION_STREAM_PREFIX = "training-session-"
VISIT_STREAM_PREFIX = "advisory-visit-"
FACTORY_STREAM_PREFIX = "factory-"


def new_id() -> str:
    """A fresh id for a session, a visit or a survey (decided by the route, not the domain)."""
    return random_ids(1)[0]
