"""The Prometheus alert rules and the Grafana dashboard speak about metrics that exist: every
expression parses as PromQL (promql-parser, the Rust parser's Python binding) and every metric it
selects is one the services export (read from the prometheus_client registry after importing the
modules that define them), and each rule has what an on-call engineer needs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml  # type: ignore[import-untyped]
from prometheus_client import REGISTRY

import libs.events.consumer
import libs.events.relay
import libs.events.store
import libs.events.supervisor
import libs.servicekit.telemetry
import services.notifications.scheduler

ROOT = Path(__file__).resolve().parents[1]
OBSERVABILITY = ROOT / "deploy" / "observability"
ALERTS = OBSERVABILITY / "prometheus" / "alerts.yml"
DASHBOARD = OBSERVABILITY / "grafana" / "dashboards" / "betterwork.json"
# Made by Prometheus itself for every scrape target.
PROMETHEUS_SERIES = {"up"}
# Grafana's variables, replaced by what Grafana would put there before parsing.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "1m",
    "$__range": "1h",
    "$job": ".*",
}
CHILDREN = ("lhs", "rhs", "expr", "args", "param", "vector_selector")

# The modules above register their metrics on import; the imports are what this test is about.
_ = (
    libs.events.consumer,
    libs.events.relay,
    libs.events.store,
    libs.events.supervisor,
    libs.servicekit.telemetry,
    services.notifications.scheduler,
)


def exported_series() -> set[str]:
    """Series names the services' registry can produce, whether or not a sample exists yet."""
    names: set[str] = set()
    for family in REGISTRY.collect():
        if family.type == "counter":
            names |= {f"{family.name}_total", f"{family.name}_created"}
        elif family.type == "histogram":
            names |= {f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count", "created")}
        else:
            names.add(family.name)
    return names


def selected_metrics(expression: str) -> set[str]:
    """The metric names an expression selects (walks the parsed syntax tree)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if node is None or isinstance(node, str | int | float):
            return
        if isinstance(node, list | tuple):
            for child in node:
                walk(child)
            return
        if type(node).__name__ == "VectorSelector":
            found.add(node.name)
        for attribute in CHILDREN:
            if hasattr(node, attribute):
                walk(getattr(node, attribute))

    walk(promql_parser.parse(expression))
    return found


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expression = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expression = expression.replace(variable, value)
            expressions.append(expression)
    return expressions


KNOWN = exported_series() | PROMETHEUS_SERIES


class TestAlertRules:
    @pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
    def test_each_rule_parses_selects_exported_metrics_and_says_what_to_do(
        self, rule: dict[str, Any]
    ) -> None:
        metrics = selected_metrics(rule["expr"])
        assert metrics, "an alert must select at least one metric"
        assert metrics <= KNOWN, f"not exported: {sorted(metrics - KNOWN)}"
        assert rule["labels"]["severity"] in {"page", "ticket"}
        assert rule["annotations"]["summary"]
        anchor = rule["annotations"]["runbook"].split("#", 1)[1]
        assert anchor in _operations_anchors(), f"docs/operations.md has no section {anchor}"

    def test_names_are_unique_and_the_on_call_cases_are_covered(self) -> None:
        names = [rule["alert"] for rule in alert_rules()]
        assert len(names) == len(set(names))
        covered = set().union(*(selected_metrics(rule["expr"]) for rule in alert_rules()))
        for metric in (
            "bw_consumer_pending_events",  # consumer stalled
            "bw_consumer_last_processed_timestamp_seconds",
            "bw_outbox_oldest_entry_age_seconds",  # outbox growing
            "bw_consumer_dead_letters_total",  # dead letters
            "bw_webhook_endpoints_disabled_total",  # endpoint disabled
        ):
            assert metric in covered

    def test_the_checker_itself_rejects_an_unknown_metric_and_bad_promql(self) -> None:
        assert not selected_metrics("rate(bw_no_such_metric_total[5m]) > 0") <= KNOWN
        with pytest.raises(ValueError):
            promql_parser.parse("sum by (job (rate(x[5m]))")


class TestDashboard:
    def test_every_panel_query_parses_and_selects_exported_metrics(self) -> None:
        expressions = dashboard_expressions()
        assert len(expressions) >= 15
        for expression in expressions:
            metrics = selected_metrics(expression)
            assert metrics and metrics <= KNOWN, (expression, sorted(metrics - KNOWN))

    def test_every_exported_bw_metric_has_a_panel(self) -> None:
        shown = set().union(*(selected_metrics(e) for e in dashboard_expressions()))
        exported = {
            name for name in exported_series() if not name.endswith(("_created", "_sum", "_count"))
        }
        wanted = {name for name in exported if name.startswith(("bw_", "http_server_"))}
        missing = {name for name in wanted if name not in shown and f"{name}_bucket" not in shown}
        assert missing == set()

    def test_the_variable_query_names_an_exported_metric(self) -> None:
        dashboard = json.loads(DASHBOARD.read_text())
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                [metric] = re.findall(r"label_values\((\w+),", variable["definition"])
                assert metric in KNOWN


def _operations_anchors() -> set[str]:
    """GitHub's anchors of docs/operations.md's headings."""
    text = (ROOT / "docs" / "operations.md").read_text()
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors
