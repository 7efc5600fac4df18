"""The Grafana dashboard and the alert rules read what a real service exports after real calls.

`elo serve` runs as a real process with a shared metrics folder; the rehearsal campaign
(`demo.campaign_rehearsal`: the real runner, LiveKit dialer and voice pipeline against the
LiveKit fake and the Gemini emulator; one patient books, one line is a machine, one is busy)
runs in a child process recording into that folder, as the service's workers do; a campaign
imported with `elo campaign` gives a queue. Then `GET /metrics` is scraped over HTTP and every
expression of deploy/grafana/elo.json and deploy/prometheus/alerts.yml is parsed as PromQL:
each metric it names must be in the scrape, each label it matches or groups by must be one the
metric carries, and each label value it compares with must be one the labels can take.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import phonenumbers
import promql_parser as promql
import pytest
import yaml

from demo.campaign_rehearsal import CONTACTS
from telemetry.vocabulary import (
    ATTEMPT_OUTCOMES,
    CALL_OUTCOMES,
    DIRECTIONS,
    ErrorKind,
    Reconnect,
    ToolResultKind,
)
from tests.conftest import PROJECT_ROOT
from tests.serve_process import KEYS, serve_env, serving
from tests.telemetry.scrape import Scrape

DASHBOARD = PROJECT_ROOT / "deploy" / "grafana" / "elo.json"
ALERTS = PROJECT_ROOT / "deploy" / "prometheus" / "alerts.yml"
TOKEN = "scrape-token-for-the-test-0123456789"
# Series Prometheus makes itself for every target, never in /metrics.
FROM_PROMETHEUS = {"up"}
TARGET_LABELS = {"job", "instance"}
# Grafana's macros and the dashboard's variable, as Grafana fills them in before querying.
MACROS = {"$__rate_interval": "1m", "$__range": "24h", "$__interval": "30s", "$job": "elo"}
# The values each label may take (telemetry.vocabulary), for the matchers that compare with one.
VALUES: dict[str, set[str]] = {
    "direction": set(DIRECTIONS),
    "outcome": set(CALL_OUTCOMES) | set(ATTEMPT_OUTCOMES),
    "result": {kind.value for kind in ToolResultKind},
    "kind": {kind.value for kind in ErrorKind},
    "reason": {reason.value for reason in Reconnect},
    "answered": {"true", "false"},
    "fault": {"true", "false"},
}


@pytest.fixture(scope="module")
def scrape(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scrape]:
    """One scrape of a real service after a real campaign: shared by the tests of this file."""
    tmp_path = tmp_path_factory.mktemp("service")
    folder = tmp_path / "metrics"
    env = serve_env(
        tmp_path,
        **KEYS,
        ELO_SERVER__METRICS_DIR=str(folder),
        ELO_SERVER__METRICS_TOKEN=TOKEN,
    )
    with serving(tmp_path, env) as served:
        base = served.base
        _work_as_a_worker(tmp_path, folder)
        _queue_a_campaign(tmp_path, env)
        refused = httpx.get(f"{base}/metrics", timeout=30)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        response = httpx.get(
            f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        )
        assert response.status_code == 200
        yield Scrape.parse(response.text)
        served.stop(timeout=30)


def _work_as_a_worker(tmp_path: Path, folder: Path) -> None:
    """The rehearsal campaign in a child recording into the service's folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELO_")}
    env |= {"PYTHONPATH": str(PROJECT_ROOT), "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    done = subprocess.run(
        [sys.executable, "-m", "demo.campaign_rehearsal", "--out", str(tmp_path / "rehearsal")],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def _queue_a_campaign(tmp_path: Path, env: dict[str, str]) -> None:
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("name,phone\nArta Hoxha,0675556677\nBesa Krasniqi,0675556688\n")
    for args in (
        ["campaign", "create", "Recall", "--purpose", "recall"],
        ["campaign", "import", "Recall", str(contacts)],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "cli.main", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_the_service_exports_what_the_campaign_did(scrape: Scrape) -> None:
    outbound = {"direction": "outbound"}
    assert scrape.value("elo_calls_total", outcome="booked", **outbound) == 1
    assert scrape.value("elo_calls_total", outcome="voicemail", **outbound) == 1
    # The busy line's pipeline was cancelled before anyone answered.
    assert scrape.total("elo_calls_total") == 3
    assert scrape.value("elo_bookings_total", **outbound) == 1
    assert scrape.value("elo_revenue_booked_lek_total", **outbound) == 2000
    assert scrape.value("elo_call_duration_seconds_count", answered="true", **outbound) == 2
    answered = {"sip_status": "200", "fault": "false"}
    assert scrape.value("elo_dial_attempts_total", outcome="booked", **answered) == 1
    assert scrape.value("elo_dial_attempts_total", outcome="voicemail", **answered) == 1
    assert scrape.value("elo_dial_attempts_total", outcome="busy", sip_status="486", fault="false")
    assert scrape.total("elo_dial_attempts_total") == 3
    assert scrape.value("elo_tool_calls_total", tool="schedule_appointment", result="ok") == 1
    assert scrape.value("elo_tool_calls_total", tool="end_call", result="ok") >= 2
    assert scrape.value("elo_model_response_latency_seconds_count") >= 1
    assert scrape.value("elo_pipeline_added_latency_seconds_count") >= 1
    assert scrape.value("elo_active_calls", **outbound) == 0
    assert scrape.value("elo_campaign_queue_depth", campaign="1") == 2
    assert scrape.value("elo_ready") == 1
    assert scrape.value("process_resident_memory_bytes") > 0
    assert scrape.total("elo_errors_total") == 0


@pytest.mark.slow
def test_no_patient_data_reaches_the_metrics(scrape: Scrape) -> None:
    for contact in CONTACTS:
        for part in contact.name.split():
            assert part not in scrape.text, part
        number = phonenumbers.parse(contact.phone, "AL")
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        for form in (contact.phone, contact.phone.replace(" ", ""), e164, e164[1:]):
            assert form not in scrape.text, form
    for value in scrape.label_values():
        assert not re.search(r"\d{6}", value), value  # no number, no id
    assert "Arta" not in scrape.text and "Recall" not in scrape.text


def _dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] and dashboard["title"]
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "job"}
    expressions = [dashboard["templating"]["list"][1]["definition"]]
    ids = []

    def visit(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            ids.append(panel["id"])
            assert set(panel["gridPos"]) == {"x", "y", "w", "h"}, panel["title"]
            if panel["type"] == "row":
                visit(panel.get("panels", []))
                continue
            assert panel["title"] and panel["description"], panel
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"], panel["title"]
            expressions.extend(target["expr"] for target in panel["targets"])

    visit(dashboard["panels"])
    assert len(ids) == len(set(ids))
    return expressions


def _alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    assert set(document) == {"groups"} and document["groups"]
    rules = []
    for group in document["groups"]:
        assert set(group) == {"name", "rules"} and group["rules"], group
        rules.extend(group["rules"])
    return rules


def _selectors(expression: str) -> tuple[list[Any], set[str]]:
    """The vector selectors of a PromQL expression and the labels it groups by."""
    text = expression
    for macro, value in MACROS.items():
        text = text.replace(macro, value)
    text = re.sub(r"label_values\((\w+), (\w+)\)", r"\1", text)  # Grafana's variable query
    tree = promql.parse(text)  # raises ValueError on anything Prometheus would refuse
    selectors: list[Any] = []
    grouping: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql.VectorSelector):
            selectors.append(node)
        elif isinstance(node, promql.AggregateExpr) and node.modifier is not None:
            grouping.update(node.modifier.labels)

    promql.walk(tree, visit)
    return selectors, grouping


def _check(expression: str, scrape: Scrape) -> None:
    selectors, grouping = _selectors(expression)
    assert selectors, expression
    carried: set[str] = set(TARGET_LABELS)
    for selector in selectors:
        name = selector.name
        if name in FROM_PROMETHEUS:
            continue
        assert name in scrape.names(), f"{name} is not exported ({expression})"
        labels = scrape.label_names(name) | TARGET_LABELS
        carried |= labels
        for matcher in selector.matchers.matchers:
            assert matcher.name in labels, f"{name} has no label {matcher.name}"
            if matcher.op in (promql.MatchOp.Equal, promql.MatchOp.NotEqual):
                allowed = VALUES.get(matcher.name)
                if allowed is not None:
                    assert matcher.value in allowed, f"{matcher.name}={matcher.value!r}"
    assert grouping <= carried, f"grouped by {grouping - carried} ({expression})"


@pytest.mark.slow
def test_every_dashboard_query_reads_exported_metrics(scrape: Scrape) -> None:
    expressions = _dashboard_expressions()
    assert len(expressions) > 20
    for expression in expressions:
        _check(expression, scrape)


@pytest.mark.slow
def test_every_alert_rule_is_well_formed_and_reads_exported_metrics(scrape: Scrape) -> None:
    rules = _alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    assert {
        "EloNotReady",
        "EloCallFailureRate",
        "EloBookingRateDrop",
        "EloModelLatencyHigh",
    } <= set(names)
    for rule in rules:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule
        assert re.fullmatch(r"Elo[A-Z][A-Za-z]+", rule["alert"])
        assert re.fullmatch(r"\d+[smhd]", rule["for"]), rule["for"]
        assert rule["labels"]["severity"] in {"critical", "warning"}
        assert rule["annotations"]["summary"].strip()
        assert rule["annotations"]["description"].strip()
        _check(rule["expr"], scrape)


def test_the_checker_refuses_a_bad_expression() -> None:
    # The checks themselves: a checker that cannot fail proves nothing.
    with pytest.raises(ValueError, match="parenthesis"):
        _selectors("sum(rate(elo_calls_total[5m])")
    fake = Scrape.parse('elo_calls_total{direction="outbound",outcome="booked"} 1\n')
    _check('sum(rate(elo_calls_total{outcome="booked"}[5m]))', fake)
    for wrong in (
        "sum(rate(elo_call_total[5m]))",  # a misspelt metric
        'sum(rate(elo_calls_total{outcom="booked"}[5m]))',  # a misspelt label
        'sum(rate(elo_calls_total{outcome="bokked"}[5m]))',  # a value no call has
        "sum by (tool) (rate(elo_calls_total[5m]))",  # grouped by a label it lacks
    ):
        with pytest.raises(AssertionError):
            _check(wrong, fake)
