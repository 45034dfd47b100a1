"""The shapes of the programmes the generator writes: how many factories join each year, the
workforce, the buyers' participation and reliance, the training, by year. Pure data.

`HISTORY` is a fictional programme shaped like Better Factories Cambodia 2001-2010 (the seed's
table of results: more than 2,500 assessments, 100,000 -> 300,000 workers, 37 participating buyers
in 2010, relying buyers 6 in 2006 -> 31 in 2010, more than 9,000 training participants since
2004). `PROGRAMME` is the import benchmark's programme: 2,000 factories x 5 yearly cycles.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date


@dataclass(frozen=True)
class BuyerPlan:
    """Buyers who join in a year and stay through the last year; buyers who join and leave; how
    many of those who stay start relying on the programme's assessments in each year."""

    joining: dict[int, int]
    leaving: tuple[tuple[int, int], ...] = ()  # (joins in, leaves in)
    relying_from: dict[int, int] = field(default_factory=dict)
    factories_per_buyer: tuple[int, int] = (3, 18)


@dataclass(frozen=True)
class Shape:
    name: str
    programme: str
    country: str
    first_year: int
    last_year: int
    factories_joining: dict[int, int]
    exit_rate: float  # the share of active factories that close in a year
    workers: dict[int, int] | None  # the workforce of the factories assessed in a year
    buyers: BuyerPlan
    training_participants: dict[int, int]
    visits_from: int
    cycles: int | None = None  # exactly this many yearly cycles per factory (the benchmark)
    scale: float = 1.0  # of the factories, the workforce and the training (not the buyers)

    @property
    def first_day(self) -> date:
        return date(self.first_year, 1, 1)

    @property
    def last_day(self) -> date:
        """No fact of the history is dated after this day."""
        return date(self.last_year, 12, 31)

    @property
    def factories(self) -> int:
        return sum(self.factories_joining.values())

    def with_factories(self, count: int) -> Shape:
        """The same programme with about `count` factories: the joiners, the workforce and the
        training scaled down or up alike; the buyers' figures stay (they are the shape's own)."""
        if count < 1:
            raise ValueError("a programme has at least one factory")
        ratio = count / self.factories
        joining = {year: round(n * ratio) for year, n in self.factories_joining.items()}
        joining[self.first_year] += count - sum(joining.values())
        return replace(
            self,
            factories_joining=joining,
            workers=None
            if self.workers is None
            else {year: round(n * ratio) for year, n in self.workers.items()},
            training_participants={
                year: max(1, round(n * ratio)) for year, n in self.training_participants.items()
            },
            scale=ratio,
        )


HISTORY = Shape(
    name="history",
    programme="Cambodia garment sector programme 2001-2010 (fictional, shaped like Better "
    "Factories Cambodia)",
    country="KH",
    first_year=2001,
    last_year=2010,
    factories_joining={
        2001: 160,
        2002: 45,
        2003: 45,
        2004: 40,
        2005: 40,
        2006: 35,
        2007: 40,
        2008: 40,
        2009: 15,
        2010: 25,
    },
    exit_rate=0.04,
    workers={
        2001: 100_000,
        2002: 125_000,
        2003: 160_000,
        2004: 200_000,
        2005: 245_000,
        2006: 280_000,
        2007: 320_000,
        2008: 345_000,
        2009: 305_000,
        2010: 320_000,
    },
    buyers=BuyerPlan(
        joining={
            2001: 8,
            2002: 4,
            2003: 4,
            2004: 4,
            2005: 4,
            2006: 3,
            2007: 3,
            2008: 3,
            2009: 2,
            2010: 2,
        },
        leaving=((2001, 2004), (2002, 2005), (2004, 2006), (2003, 2007), (2001, 2008)),
        relying_from={2006: 6, 2007: 6, 2008: 7, 2009: 6, 2010: 6},
    ),
    training_participants={
        2004: 700,
        2005: 1_000,
        2006: 1_200,
        2007: 1_400,
        2008: 1_500,
        2009: 1_700,
        2010: 1_900,
    },
    visits_from=2003,
)

PROGRAMME = Shape(
    name="programme",
    programme="Programme-scale benchmark history: 2,000 factories x 5 yearly cycles (fictional)",
    country="KH",
    first_year=2006,
    last_year=2010,
    factories_joining={2006: 2_000},
    exit_rate=0.0,
    workers=None,
    buyers=BuyerPlan(
        joining={2006: 80, 2007: 20, 2008: 20, 2009: 20, 2010: 10},
        relying_from={2006: 20, 2007: 20, 2008: 20, 2009: 20, 2010: 20},
        factories_per_buyer=(5, 30),
    ),
    training_participants={year: 6_000 for year in range(2006, 2011)},
    visits_from=2006,
    cycles=5,
)

SHAPES = {shape.name: shape for shape in (HISTORY, PROGRAMME)}
