"""The course seeder: a service component that, once the service runs, defines the programme's
courses (domain/catalogue.py) that the catalogue lacks, through the service's own `DefineCourse`
command (`if_absent`: what admins changed since stays). Every replica runs it; a course two
replicas define at once is appended once (the stream's optimistic concurrency). It runs under the
service's supervisor: a failure (the database not up yet) is retried with backoff."""

from __future__ import annotations

import asyncio
import logging

from libs.events.supervisor import SupervisedComponent, Supervisor
from services.advisory.commands import DefineCourse
from services.advisory.domain.actor import SYSTEM
from services.advisory.domain.catalogue import SEEDED_COURSES
from services.advisory.handlers.catalogue import define_course
from services.advisory.handlers.dependencies import Dependencies

log = logging.getLogger(__name__)


class CourseSeeder(SupervisedComponent):
    task_name = "advisory-course-seeder"

    def __init__(self, deps: Dependencies, supervisor: Supervisor | None = None) -> None:
        super().__init__(supervisor)
        self.deps = deps
        self.seeded = asyncio.Event()
        """Set once every seeded course is in the catalogue (tests wait on it)."""

    async def seed(self) -> int:
        """Define the missing courses; returns how many were defined."""
        defined = 0
        for code, details in SEEDED_COURSES.items():
            change = await define_course(
                DefineCourse(code, details, SYSTEM, if_absent=True), self.deps
            )
            defined += bool(change.events)
        return defined

    async def run(self) -> None:
        if not self.seeded.is_set():
            defined = await self.seed()
            if defined:
                log.info("seeded %d courses into the catalogue", defined)
            self.seeded.set()
        await self.stopping.wait()
