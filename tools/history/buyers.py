"""The buyers of a generated programme, their sharing grants (with periods; a few revoked) and
their audit reliance declarations: a buyer participates from the year it joins (a grant in force
with at least one factory, its "anchor", for as long as it stays) and, from the year the shape
says, relies on the programme's assessments, declaring after each report of a factory it sources
from (never on a revoked grant, within the grant's period, at most a year each). Pure."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from tools.history.population import Factory, day_in
from tools.history.shape import Shape

BRANDS = (
    ("Northwind", "Bluebell", "Harbour", "Maple", "Fjord", "Sierra", "Lumen", "Cobalt", "Saffron"),
    ("Apparel", "Outfitters", "Retail", "Clothing Co.", "Brands", "Fashion Group"),
)
COUNTRIES = ("US", "GB", "SE", "DE", "ES", "FR", "NL", "JP", "AU", "CA", "DK", "IT", "BE")
PEOPLE = ("Alex Morgan", "Sam Lee", "Kim Nguyen", "Jo Weber", "Ana Ruiz", "Lena Berg")
LEFT = "The buyer stopped sourcing from the factory."
WITHDRAWN = "The buyer audits the factory itself again this year."


@dataclass
class Buyer:
    index: int
    source_id: str
    joined_on: date
    leaves_on: date | None
    relies_from: int | None = None
    grants: list[Grant] = field(default_factory=list)


@dataclass
class Grant:
    source_id: str
    buyer: Buyer
    factory: Factory
    granted_on: date
    ends_on: date
    revoked_on: date | None = None

    @property
    def last_day(self) -> date:
        """The last day in force."""
        if self.revoked_on is None:
            return self.ends_on
        return min(self.ends_on, self.revoked_on - timedelta(days=1))

    def record(self) -> dict[str, Any]:
        return {
            "source_id": self.source_id,
            "buyer": self.buyer.source_id,
            "factory": self.factory.source_id,
            "granted_on": self.granted_on.isoformat(),
            "ends_on": self.ends_on.isoformat(),
            "revoked_on": None if self.revoked_on is None else self.revoked_on.isoformat(),
            "reason": "" if self.revoked_on is None else LEFT,
        }


@dataclass(frozen=True)
class Reliance:
    grant: Grant
    cycle: int
    declared_on: date
    period_end: date
    withdrawn_on: date | None

    @property
    def last_day(self) -> date:
        if self.withdrawn_on is None:
            return self.period_end
        return min(self.period_end, self.withdrawn_on - timedelta(days=1))


def buyer_record(rng: random.Random, buyer: Buyer) -> dict[str, Any]:
    first, second = BRANDS[0], BRANDS[1]
    name = f"{first[buyer.index % len(first)]} {second[(buyer.index // len(first)) % len(second)]}"
    if buyer.index >= len(first) * len(second):
        name += f" {buyer.index // (len(first) * len(second)) + 1}"
    slug = "".join(c for c in name.lower() if c.isalnum())
    return {
        "source_id": buyer.source_id,
        "name": name,
        "country": rng.choice(COUNTRIES),
        "contact_name": rng.choice(PEOPLE),
        "contact_email": f"sourcing@{slug}.example",
        "joined_on": buyer.joined_on.isoformat(),
    }


def buyers(shape: Shape, seed: int, prefix: str, population: list[Factory]) -> list[Buyer]:
    """The buyers with their grants; `relies_from` set for those who come to rely."""
    plan = shape.buyers
    rng = random.Random(f"{seed}:buyers")
    spans: list[tuple[int, int | None]] = [
        (year, None) for year, count in sorted(plan.joining.items()) for _ in range(count)
    ]
    spans += [(joins, leaves) for joins, leaves in plan.leaving]
    spans.sort(key=lambda span: (span[0], span[1] is not None))
    result: list[Buyer] = []
    for index, (joins, leaves) in enumerate(spans):
        buyer_rng = random.Random(f"{seed}:buyer:{index}")
        result.append(_buyer(shape, buyer_rng, prefix, index, joins, leaves, population))
    for year, count in sorted(plan.relying_from.items()):
        eligible = [
            buyer
            for buyer in result
            if buyer.leaves_on is None
            and buyer.relies_from is None
            and buyer.joined_on.year <= year
        ]
        for buyer in sorted(rng.sample(eligible, min(count, len(eligible))), key=_index):
            buyer.relies_from = year
    return result


def _index(buyer: Buyer) -> int:
    return buyer.index


def _buyer(
    shape: Shape,
    rng: random.Random,
    prefix: str,
    index: int,
    joins: int,
    leaves: int | None,
    population: list[Factory],
) -> Buyer:
    leaves_on = None if leaves is None else day_in(rng, date(leaves, 3, 1), date(leaves, 10, 31))
    until = leaves_on or shape.last_day
    # a factory that stays open while the buyer does, assessed before it joins where one is
    anchors = [f for f in population if f.last_day(shape) >= until]
    earlier = [f for f in anchors if f.visits and f.visits[0].report_date.year < joins]
    anchor = rng.choice(
        earlier or [f for f in anchors if f.registered_on.year <= joins] or population
    )
    joined = day_in(rng, date(joins, 1, 1), date(joins, 10, 31))
    joined = min(max(joined, anchor.registered_on + timedelta(days=30)), date(joins, 12, 31))
    buyer = Buyer(index + 1, f"{prefix}-B-{index + 1:03d}", joined, leaves_on)

    def grant(factory: Factory, start: date, end: date) -> Grant:
        source_id = f"{prefix}-G-{buyer.index:03d}-{factory.index:05d}"
        return Grant(source_id, buyer, factory, start, end)

    anchor_grant = grant(anchor, joined, min(until, anchor.last_day(shape)))
    if leaves_on is not None and rng.random() < 0.5:
        # it left by revoking what was granted to the end of the programme's history
        anchor_grant.ends_on, anchor_grant.revoked_on = shape.last_day, leaves_on
    buyer.grants.append(anchor_grant)
    others = [f for f in population if f is not anchor and f.registered_on < until]
    count = min(len(others), rng.randint(*shape.buyers.factories_per_buyer) - 1)
    for factory in rng.sample(others, count):
        start = max(joined, factory.registered_on + timedelta(days=30))
        start += timedelta(days=rng.randint(0, 700))
        end = min(until, factory.last_day(shape), start + timedelta(days=rng.randint(700, 3000)))
        if (end - start).days < 60:
            continue
        extra = grant(factory, start, end)
        if rng.random() < 0.06:
            extra.revoked_on = day_in(rng, start + timedelta(days=30), end)
        buyer.grants.append(extra)
    return buyer


def reliances(shape: Shape, seed: int, population: list[Buyer]) -> list[Reliance]:
    """Every reliance declaration, in the order declared."""
    result: list[Reliance] = []
    for buyer in population:
        if buyer.relies_from is None:
            continue
        rng = random.Random(f"{seed}:reliances:{buyer.index}")
        mine: list[Reliance] = []
        for grant in buyer.grants:
            if grant.revoked_on is not None:
                continue
            for visit in grant.factory.visits:
                declared = visit.report_date + timedelta(days=rng.randint(7, 45))
                if declared.year < buyer.relies_from or rng.random() >= 0.85:
                    continue
                reliance = _declared(rng, grant, visit.cycle, declared)
                if reliance is not None:
                    mine.append(reliance)
        for year in range(buyer.relies_from, shape.last_year + 1):
            if not any(_in_force_in(reliance, year) for reliance in mine):
                forced = _on_anchor(buyer.grants[0], year)
                if forced is not None:
                    mine.append(forced)
        result += mine
    return sorted(
        result,
        key=lambda r: (r.declared_on, r.grant.buyer.index, r.grant.factory.index, r.cycle),
    )


def _declared(rng: random.Random, grant: Grant, cycle: int, declared: date) -> Reliance | None:
    if not grant.granted_on <= declared <= grant.ends_on:
        return None
    period_end = min(declared + timedelta(days=364), grant.ends_on)
    withdrawn = None
    if rng.random() < 0.03:
        withdrawn = declared + timedelta(days=rng.randint(30, 180))
        if withdrawn > period_end:
            withdrawn = None
    return Reliance(grant, cycle, declared, period_end, withdrawn)


def _on_anchor(grant: Grant, year: int) -> Reliance | None:
    """A declaration in `year` on the anchor's latest report before it (so that a relying buyer
    relies in every year from the one it started)."""
    end_of_year = date(year, 12, 31)
    reports = [visit for visit in grant.factory.visits if visit.report_date < end_of_year]
    if not reports or grant.revoked_on is not None:
        return None
    latest = reports[-1]
    declared = max(date(year, 1, 1), latest.report_date + timedelta(days=1), grant.granted_on)
    if declared > min(end_of_year, grant.ends_on):
        return None
    return Reliance(
        grant, latest.cycle, declared, min(declared + timedelta(days=364), grant.ends_on), None
    )


def _in_force_in(reliance: Reliance, year: int) -> bool:
    return reliance.declared_on <= date(year, 12, 31) and reliance.last_day >= date(year, 1, 1)


def reliance_records(prefix: str, population: list[Reliance]) -> list[dict[str, Any]]:
    return [
        {
            "source_id": f"{prefix}-R-{number:05d}",
            "buyer": reliance.grant.buyer.source_id,
            "factory": reliance.grant.factory.source_id,
            "assessment": f"{prefix}-A-{reliance.grant.factory.index:05d}-{reliance.cycle:02d}",
            "declared_on": reliance.declared_on.isoformat(),
            "period_start": reliance.declared_on.isoformat(),
            "period_end": reliance.period_end.isoformat(),
            "withdrawn_on": None
            if reliance.withdrawn_on is None
            else reliance.withdrawn_on.isoformat(),
            "note": "The programme's assessment replaces our own audit for this period.",
        }
        for number, reliance in enumerate(population, start=1)
    ]
