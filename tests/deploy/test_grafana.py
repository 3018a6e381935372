"""The Grafana provisioning and dashboard: valid, wired to the provisioned Prometheus, and every
query reads metrics the service really exports."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, compose_config, mounts
from tests.deploy.promql import PROMETHEUS_SERIES, exported_names, metric_names

GRAFANA = DEPLOY / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "sentiment.json"


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


@pytest.fixture(scope="module")
def datasource() -> dict:
    config = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    (source,) = config["datasources"]
    return source


def queries(dashboard: dict) -> list[tuple[str, str]]:
    """(where, query) for every panel target and every templating variable."""
    found = [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p["targets"]]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            found.append((f"variable {variable['name']}", variable["query"]["query"]))
    return found


def test_the_dashboard_has_the_panels_the_issue_asks_for(dashboard: dict) -> None:
    titles = [p["title"].lower() for p in dashboard["panels"]]
    for wanted in [
        "throughput",
        "latency percentiles",
        "queue wait vs inference",
        "batch size",
        "queue depth",
        "error ratio",
        "predictions by label",
        "model versions served",  # skew during a swap (#24)
        "shadow candidate",
    ]:
        assert any(wanted in t for t in titles), f"no panel on {wanted}: {titles}"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"]


def test_every_query_reads_metrics_the_service_exports(dashboard: dict) -> None:
    known = exported_names() | PROMETHEUS_SERIES
    checked = 0
    for where, query in queries(dashboard):
        names = metric_names(query)
        assert names, f"{where}: {query!r} reads no metric"
        assert names <= known, f"{where} reads {names - known}, which /metrics does not serve"
        checked += 1
    assert checked >= 7


def test_a_renamed_metric_would_be_caught() -> None:
    with pytest.raises(AssertionError):
        assert metric_names("rate(sentiment_request_total[5m])") <= exported_names()


def test_panels_use_the_provisioned_datasource(dashboard: dict, datasource: dict) -> None:
    assert datasource["type"] == "prometheus"
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == datasource["uid"], panel["title"]


def test_provisioning_points_at_the_compose_services_and_mounts(datasource: dict) -> None:
    services = compose_config()["services"]
    assert datasource["url"] == "http://prometheus:9090" and "prometheus" in services
    grafana = mounts(services["grafana"])
    provider = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "sentiment.yml").read_text()
    )
    (dashboards,) = provider["providers"]
    assert grafana["deploy/grafana/dashboards"] == dashboards["options"]["path"]
    assert grafana["deploy/grafana/provisioning"] == "/etc/grafana/provisioning"


def test_a_drift_row_sets_each_live_signal_against_its_reference(dashboard: dict) -> None:
    panels = dashboard["panels"]
    (row,) = [p for p in panels if p["type"] == "row" and "drift" in p["title"].lower()]
    below = [p for p in panels if p["gridPos"]["y"] > row["gridPos"]["y"] and p["type"] != "row"]
    drift = below[:4]
    names = [set().union(*(metric_names(t["expr"]) for t in p["targets"])) for p in drift]
    for live in (
        "sentiment_unknown_token_share_sum",
        "sentiment_predictions_total",
        "sentiment_tokens_per_text_sum",
        "sentiment_score_sum",
    ):
        (panel,) = [n for n in names if live in n]
        assert any(n.startswith("sentiment_reference_") for n in panel), panel
