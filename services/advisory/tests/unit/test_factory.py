"""The factory record: the assessment service's factory copied order-safely, its cycles, the
training it received once per session, and which cycle a day falls in. No I/O."""

from __future__ import annotations

from datetime import date

from services.advisory.domain.factory import (
    FACTORY,
    AssessmentCycleRecorded,
    FactoryRecord,
    FactoryRecorded,
    cycle_on,
    receive_training,
    record_cycle,
    record_factory,
)
from services.advisory.domain.session_rules import training_received
from services.advisory.tests.unit.given import delivered, factory


class TestRecordFactory:
    def test_records_a_new_factory_with_its_country_in_upper_case(self) -> None:
        events = record_factory(FactoryRecord(), "f-1", "Mekong", "kh", 1)
        assert events == [
            FactoryRecorded(factory_id="f-1", name="Mekong", country="KH", upstream_version=1)
        ]

    def test_a_redelivered_or_older_version_changes_nothing(self) -> None:
        record = factory()
        assert record_factory(record, "f-1", "Mekong", "KH", 1) == []
        updated = FACTORY.fold(record_factory(record, "f-1", "Mekong", "VN", 3), record)
        assert updated.country == "VN"
        assert record_factory(updated, "f-1", "Mekong", "KH", 2) == []


class TestRecordCycle:
    def test_records_a_cycle_once(self) -> None:
        events = record_cycle(factory(), "f-1", 1, date(2024, 3, 1))
        assert events == [
            AssessmentCycleRecorded(factory_id="f-1", cycle=1, report_date=date(2024, 3, 1))
        ]
        assert record_cycle(FACTORY.fold(events, factory()), "f-1", 1, date(2024, 3, 1)) == []

    def test_a_cycle_before_the_factory_leaves_it_unknown(self) -> None:
        record = FACTORY.fold(record_cycle(FactoryRecord(), "f-1", 1, date(2024, 3, 1)))
        assert not record.known and record.cycles == {1: date(2024, 3, 1)}


class TestCycleOn:
    def test_a_day_belongs_to_the_latest_report_on_or_before_it(self) -> None:
        cycles = {1: date(2023, 3, 1), 2: date(2024, 3, 1)}
        assert cycle_on(cycles, date(2023, 2, 28)) == 0
        assert cycle_on(cycles, date(2023, 3, 1)) == 1
        assert cycle_on(cycles, date(2024, 2, 29)) == 1
        assert cycle_on(cycles, date(2025, 1, 1)) == 2


class TestReceiveTraining:
    def test_a_session_is_received_once(self) -> None:
        training = training_received(delivered(), "f-1")
        events = receive_training(factory(), training)
        assert events == [training]
        assert receive_training(FACTORY.fold(events, factory()), training) == []

    def test_the_record_survives_a_snapshot(self) -> None:
        snapshots = FACTORY.snapshots
        assert snapshots is not None
        record = FACTORY.fold(record_cycle(factory(), "f-1", 2, date(2024, 3, 1)), factory())
        assert snapshots.restore(snapshots.dump(record)) == record
