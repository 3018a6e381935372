"""The Prometheus configuration and rules: promtool checks and unit-tests them, and every rule
reads metrics the service really exports."""

from __future__ import annotations

import yaml

from tests.deploy.conftest import DEPLOY, run, tool
from tests.deploy.promql import PROMETHEUS_SERIES, exported_names, metric_names

RULES = DEPLOY / "prometheus" / "rules.yml"


def rules() -> list[dict]:
    return [
        rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]


def test_promtool_accepts_the_rules() -> None:
    result = run(tool("promtool"), "check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    result = run(tool("promtool"), "test", "rules", DEPLOY / "prometheus" / "rules_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_accepts_the_compose_config_and_finds_its_rule_file() -> None:
    result = run(tool("promtool"), "check", "config", DEPLOY / "prometheus" / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout


def test_the_alerts_a_user_needs_exist_and_each_is_unit_tested() -> None:
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    assert {
        "SentimentInstanceDown",
        "SentimentHighErrorRatio",
        "SentimentHighLatencyP99",
        "SentimentQueueSaturated",
        "SentimentInputsDrifted",
        "SentimentPositiveShareShifted",
        "SentimentTextLengthShifted",
    } <= alerts
    tests = yaml.safe_load((DEPLOY / "prometheus" / "rules_test.yml").read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test.get("alert_rule_test", [])}
    assert alerts == tested, f"alerts without a unit test: {alerts - tested}"
    for rule in rules():
        if "alert" in rule:
            assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_every_rule_reads_metrics_the_service_exports() -> None:
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    known = exported_names() | recorded | PROMETHEUS_SERIES
    for rule in rules():
        unknown = metric_names(rule["expr"]) - known
        assert not unknown, f"{rule.get('record') or rule.get('alert')} reads {unknown}"


def test_the_rules_select_the_job_that_both_scrape_configs_define() -> None:
    compose = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    configmap = yaml.safe_load((DEPLOY / "kubernetes" / "prometheus-scrape.yaml").read_text())
    kubernetes = yaml.safe_load(configmap["data"]["prometheus.yml"])
    jobs = {c["job_name"] for c in compose["scrape_configs"] + kubernetes["scrape_configs"]}
    assert "sentiment-api" in jobs
    assert 'job="sentiment-api"' in RULES.read_text()
