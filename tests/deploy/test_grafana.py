"""The Grafana dashboard kept in the repo: valid, covers what the alarms watch, and names no
service, so a service added to the routing table shows up through its variables."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from commerce_platform.routing import SERVICES


@pytest.fixture(scope="module")
def dashboard(repo: Path) -> dict[str, Any]:
    return json.loads((repo / "infra-pulumi/grafana/commerce-services.json").read_text())


def _targets(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for p in dashboard["panels"] for t in p.get("targets", [])]


def test_watches_what_the_alarms_watch(dashboard) -> None:
    watched = {(t["metricName"], t["statistic"]) for t in _targets(dashboard)}
    for needed in [
        ("RequestCount", "Sum"),
        ("HTTPCode_Target_5XX_Count", "Sum"),
        ("TargetResponseTime", "p99"),
        ("UnHealthyHostCount", "Maximum"),
        ("CPUUtilization", "Average"),
        ("ApproximateNumberOfMessagesVisible", "Maximum"),
        ("DatabaseConnections", "Maximum"),
    ]:
        assert needed in watched


def test_every_variable_used_is_defined(dashboard) -> None:
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    used = set(re.findall(r"\$\{?(\w+)", json.dumps(dashboard["panels"]) + json.dumps(dashboard["templating"])))
    assert used <= defined


def test_names_no_service_and_repeats_per_service(dashboard) -> None:
    text = json.dumps(dashboard)
    for route in SERVICES:
        assert f'"{route.name}"' not in text and f"-{route.name}" not in text
    repeats = {p.get("repeat") for p in dashboard["panels"]}
    assert {"service", "target_group"} <= repeats
