"""docker-compose.yml as `docker compose config` resolves it (no daemon needed): the stack, the
load-test profile and the scaled set-up behind nginx."""

from __future__ import annotations

import yaml

from tests.deploy.conftest import DEPLOY, compose_config, mounts

SCALE = "deploy/compose.scale.yml"


def test_compose_up_starts_api_prometheus_and_grafana_only() -> None:
    services = compose_config()["services"]
    assert set(services) == {"api", "prometheus", "grafana"}
    assert services["api"]["ports"][0]["target"] == 8000
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")


def test_api_threads_follow_its_cpu_limit() -> None:
    for env, cpus in [({}, "2"), ({"API_CPUS": "1"}, "1")]:
        api = compose_config(**env)["services"]["api"]
        limits = api["deploy"]["resources"]["limits"]
        assert str(limits["cpus"]) == cpus == api["environment"]["SENTIMENT_INFERENCE_THREADS"]
        assert api["environment"]["SENTIMENT_TORCH_THREADS"] == "1"
        assert api["environment"]["SENTIMENT_WORKERS"] == "1"
        assert int(limits["memory"]) >= 1024**3


def test_api_is_health_checked_on_readyz_and_restarted() -> None:
    api = compose_config()["services"]["api"]
    assert any("/readyz" in part for part in api["healthcheck"]["test"])
    assert api["restart"] == "unless-stopped"
    assert api["read_only"] and api["cap_drop"] == ["ALL"]
    # Long enough for the service's own drain (SENTIMENT_DRAIN_TIMEOUT_S) to finish.
    drain = float(api["environment"]["SENTIMENT_DRAIN_TIMEOUT_S"])
    assert api["stop_grace_period"].endswith("s") and float(api["stop_grace_period"][:-1]) > drain


def test_prometheus_loads_the_config_and_rules_that_promtool_checks() -> None:
    prometheus = compose_config()["services"]["prometheus"]
    binds = mounts(prometheus)
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert binds["deploy/prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    # rule_files are relative to the config file, in the container as here.
    assert binds["deploy/prometheus/rules.yml"] == "/etc/prometheus/" + config["rule_files"][0]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    (job,) = [c for c in config["scrape_configs"] if c["job_name"] == "sentiment-api"]
    assert job["dns_sd_configs"][0]["names"] == ["api"] and job["dns_sd_configs"][0]["port"] == 8000


def test_the_loadtest_profile_runs_locust_headless_into_a_mounted_folder() -> None:
    services = compose_config(profiles=("loadtest",))["services"]
    loadtest = services["loadtest"]
    assert loadtest["profiles"] == ["loadtest"]
    assert loadtest["environment"]["LOCUST_HOST"] == "http://api:8000"
    assert loadtest["depends_on"]["api"]["condition"] == "service_healthy"
    binds = mounts(loadtest)
    assert binds["reports"] == "/work/reports" and binds["loadtest"] == "/work/loadtest"
    assert loadtest["command"] == ["--config", "loadtest/locust.conf"]
    config = (DEPLOY.parent / "loadtest" / "locust.conf").read_text()
    assert "headless = true" in config and "csv = reports/" in config


def test_scaled_replicas_sit_behind_nginx() -> None:
    services = compose_config(SCALE, profiles=("loadtest",), API_CPUS="1")["services"]
    assert "ports" not in services["api"] or services["api"]["ports"] == []
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx:")
    assert proxy["ports"][0]["published"] == "8000"
    assert mounts(proxy)["deploy/proxy/nginx.conf"] == "/etc/nginx/nginx.conf"
    assert services["loadtest"]["environment"]["LOCUST_HOST"] == "http://proxy:8000"
    assert services["api"]["environment"]["SENTIMENT_INFERENCE_THREADS"] == "1"
    nginx = (DEPLOY / "proxy" / "nginx.conf").read_text()
    assert "resolver 127.0.0.11" in nginx and "set $api http://api:8000;" in nginx
