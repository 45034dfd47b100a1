"""The factories of a generated programme: when each registers and closes, its workforce by year,
and its assessment visits (about yearly while it is open). Pure: a deterministic function of the
shape and the seed."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from services.assessment.ids import CROCKFORD
from tools.history.shape import Shape

PROVINCES = ("Phnom Penh", "Kandal", "Kampong Speu", "Svay Rieng", "Kampong Chhnang", "Takeo")
ROADS = ("Veng Sreng Blvd", "National Road 4", "Russian Federation Blvd", "National Road 2")
NAME_PARTS = (
    ("Golden", "Asia", "River", "Star", "Lotus", "Angkor", "Mekong", "Royal", "Orient", "Grand"),
    ("Apparel", "Garment", "Textile", "Fashion", "Knitting", "Wear", "Clothing"),
)
SECTORS = ("1410", "1410", "1410", "1430", "1520", "1392")


@dataclass
class Visit:
    """An assessment visit: its cycle, the day of the visit and the report's date."""

    cycle: int
    assessed_on: date
    report_date: date


@dataclass
class Factory:
    index: int
    source_id: str
    name: str
    address: str
    sector: str
    os_id: str | None
    registered_on: date
    closed_on: date | None
    quality: float  # its non-compliance, relative to the programme's (lower is better)
    headcount: dict[int, float] = field(default_factory=dict)
    women_share: dict[int, float] = field(default_factory=dict)
    workforce: dict[int, tuple[int, int]] = field(default_factory=dict)  # year -> (women, men)
    visits: list[Visit] = field(default_factory=list)

    def last_day(self, shape: Shape) -> date:
        return self.closed_on or shape.last_day

    def open_on(self, day: date, shape: Shape) -> bool:
        return self.registered_on <= day <= self.last_day(shape)

    def record(self, country: str) -> dict[str, object]:
        return {
            "source_id": self.source_id,
            "name": self.name,
            "country": country,
            "address": self.address,
            "sector_isic": self.sector,
            "os_id": self.os_id,
            "registered_on": self.registered_on.isoformat(),
            "workforce": [
                {"year": year, "women": women, "men": men}
                for year, (women, men) in sorted(self.workforce.items())
            ],
        }


def day_in(rng: random.Random, start: date, end: date) -> date:
    """A day from `start` to `end`, both included."""
    return start + timedelta(days=rng.randint(0, max(0, (end - start).days)))


def os_id(rng: random.Random, country: str, index: int) -> str:
    """A valid Open Supply Hub ID, unique per index (its check character as the service checks)."""
    body = "".join(CROCKFORD[(index >> shift) & 31] for shift in (20, 15, 10, 5, 0))
    candidate = f"{country}{rng.randint(2019, 2023)}{rng.randint(1, 365):03d}{body}"
    total = ord(candidate[0]) + ord(candidate[1]) + sum(CROCKFORD.index(c) for c in candidate[2:])
    return candidate + CROCKFORD[total % 32]


def factories(shape: Shape, seed: int, prefix: str) -> list[Factory]:
    """Every factory of the programme, with its visits and its workforce by year."""
    result: list[Factory] = []
    keepers = max(3, shape.factories_joining[shape.first_year] // 10)
    for year in range(shape.first_year, shape.last_year + 1):
        for _ in range(shape.factories_joining.get(year, 0)):
            index = len(result) + 1
            rng = random.Random(f"{seed}:factory:{index}")
            result.append(_factory(shape, rng, index, year, prefix, keeper=index <= keepers))
    _scale_workforce(shape, result)
    return result


def _factory(
    shape: Shape, rng: random.Random, index: int, year: int, prefix: str, *, keeper: bool
) -> Factory:
    start = date(year, 1, 1)
    if shape.cycles is not None:
        registered = day_in(rng, start, start + timedelta(days=44))
    elif year == shape.first_year:
        registered = day_in(rng, start, start + timedelta(days=200))
    else:
        registered = day_in(rng, start, date(year, 11, 30))
    closed = None
    if not keeper:
        for later in range(year + 1, shape.last_year + 1):
            if rng.random() < shape.exit_rate:
                closed = day_in(rng, date(later, 1, 1), date(later, 12, 31))
                break
    adjective, noun = rng.choice(NAME_PARTS[0]), rng.choice(NAME_PARTS[1])
    factory = Factory(
        index=index,
        source_id=f"{prefix}-F-{index:05d}",
        name=f"{adjective} {noun} {index:04d} Co., Ltd.",
        address=f"Lot {rng.randint(1, 480)}, {rng.choice(ROADS)}, {rng.choice(PROVINCES)}",
        sector=rng.choice(SECTORS),
        os_id=os_id(rng, shape.country, index) if closed is None and rng.random() < 0.8 else None,
        registered_on=registered,
        closed_on=closed,
        quality=min(2.5, max(0.4, rng.lognormvariate(0.0, 0.35))),
    )
    headcount = min(6_000.0, max(60.0, rng.lognormvariate(math.log(650), 0.55)))
    share = rng.uniform(0.80, 0.93)
    for each in range(year, factory.last_day(shape).year + 1):
        factory.headcount[each] = headcount
        factory.women_share[each] = share
        headcount *= rng.uniform(0.94, 1.12)
        share = min(0.96, max(0.75, share + rng.uniform(-0.015, 0.015)))
    factory.visits = _visits(shape, rng, factory)
    return factory


def _visits(shape: Shape, rng: random.Random, factory: Factory) -> list[Visit]:
    benchmark = shape.cycles is not None
    first_delay, spacing, reporting = (
        ((20, 60), (340, 380), (7, 21)) if benchmark else ((30, 120), (330, 400), (7, 28))
    )
    visits: list[Visit] = []
    assessed = factory.registered_on + timedelta(days=rng.randint(*first_delay))
    while shape.cycles is None or len(visits) < shape.cycles:
        report = assessed + timedelta(days=rng.randint(*reporting))
        if report > factory.last_day(shape):
            break
        visits.append(Visit(len(visits) + 1, assessed, report))
        assessed += timedelta(days=rng.randint(*spacing))
    return visits


def _scale_workforce(shape: Shape, population: list[Factory]) -> None:
    """Headcounts scaled year by year so that the factories assessed in a year employ the shape's
    workforce of that year (the programme's figure of workers in assessed factories)."""
    factors: dict[int, float] = {}
    if shape.workers is not None:
        assessed: dict[int, float] = defaultdict(float)
        for factory in population:
            for year in sorted({visit.report_date.year for visit in factory.visits}):
                assessed[year] += factory.headcount[year]
        for year, target in shape.workers.items():
            if assessed.get(year):
                factors[year] = target / assessed[year]
        fallback = sum(factors.values()) / len(factors) if factors else 1.0
        factors = {year: factors.get(year, fallback) for year in shape.workers}
    for factory in population:
        for year, headcount in factory.headcount.items():
            total = max(20, round(headcount * factors.get(year, 1.0)))
            women = round(total * factory.women_share[year])
            factory.workforce[year] = (women, total - women)
