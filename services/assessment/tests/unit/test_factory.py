"""The Factory's rules: OS IDs, registration and updates, as given events / when / then. No I/O."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from libs.domain.errors import Conflict
from services.assessment.domain.factory import (
    FACTORY,
    FactoryRegistered,
    FactoryUpdated,
    Headcount,
    register_factory,
    update_factory,
)
from services.assessment.ids import normalise_os_id
from services.assessment.tests.unit.given import details, registered


class TestOsId:
    def test_accepts_the_documented_example(self) -> None:
        assert normalise_os_id("BD2019257Q2JMGF") == "BD2019257Q2JMGF"

    def test_ignores_hyphens_spaces_and_case(self) -> None:
        assert normalise_os_id("bd-2019-257 q2jmg-f") == "BD2019257Q2JMGF"

    @pytest.mark.parametrize(
        "os_id",
        [
            "BD2019257Q2JMGG",
            "BD2019257Q2JMG",
            "BD2019400Q2JMGF",
            "XX2019257Q2JMGF",
            "BD2019257Q2IMGF",
        ],
    )
    def test_rejects_a_bad_check_character_length_day_country_or_symbol(self, os_id: str) -> None:
        with pytest.raises(ValueError):
            normalise_os_id(os_id)


class TestRegisterFactory:
    def test_registers_with_validated_details(self) -> None:
        events = register_factory(None, "f-1", details(country="bd", os_id="BD2019257Q2JMGF"))
        assert events == [
            FactoryRegistered(
                factory_id="f-1",
                name="Mekong Garments",
                country="BD",
                address="Street 2004, Phnom Penh",
                sector_isic="1410",
                workforce=Headcount(women=800, men=200),
                os_id="BD2019257Q2JMGF",
            )
        ]

    def test_rejects_a_factory_that_is_already_registered(self) -> None:
        with pytest.raises(Conflict):
            register_factory(registered(), "f-1", details())

    @pytest.mark.parametrize(
        "changes",
        [
            {"country": "ZZ"},
            {"sector_isic": "0400"},
            {"sector_isic": "garments"},
            {"workforce": {"women": -1, "men": 3}},
            {"name": "  "},
            {"os_id": "BD2019257Q2JMGF"},  # an OS ID from another country than the factory's
        ],
    )
    def test_rejects_invalid_details(self, changes: dict[str, object]) -> None:
        with pytest.raises(ValidationError):
            details(**changes)


class TestUpdateFactory:
    def test_records_the_new_details(self) -> None:
        factory = registered()
        events = update_factory(factory, details(workforce={"women": 900, "men": 200}))
        assert [type(e) for e in events] == [FactoryUpdated]
        updated = FACTORY.fold(events, factory)
        assert updated is not None and updated.workforce.women == 900

    def test_records_nothing_when_nothing_changes(self) -> None:
        assert update_factory(registered(), details()) == []
