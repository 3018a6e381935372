"""docker-compose.yml as `docker compose config` resolves it (no daemon needed): the stack, the
load-test profile and the scaled set-up behind nginx."""

from __future__ import annotations

import os
import re

import pytest
import yaml

from service.app import BATCHER_STOP_S
from service.settings import ENV_PREFIX, Settings, load_settings
from tests.deploy.conftest import DEPLOY, ROOT, compose_config, mounts

SCALE = "deploy/compose.scale.yml"

# The settings docker-compose.yml sets itself rather than passing them through from the
# environment, with the value it gives them (None: left to the image) and why. Every other
# setting must pass through: a new one fails test_every_other_setting_passes_through until it
# is passed through or added here with its reason.
FIXED_IN_COMPOSE = {
    # The image's 0.0.0.0:8000, which the published port and the health check rely on.
    "host": None,
    "port": None,
    # SENTIMENT_INFERENCE_THREADS counts per worker: one worker runs API_CPUS batches of one
    # torch thread each, so that batches x threads = the CPU limit (test_api_threads_follow_...).
    "workers": "1",
    "inference_threads": "2",
    "torch_threads": "1",
    # Fits inside stop_grace_period (test_api_is_health_checked_on_readyz_and_restarted).
    "drain_timeout_s": "30",
}


def variable(setting: str) -> str:
    return ENV_PREFIX + setting.upper()


PASSED_THROUGH = sorted(variable(n) for n in Settings.model_fields if n not in FIXED_IN_COMPOSE)


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
    # Long enough for the service's own drain (SENTIMENT_DRAIN_TIMEOUT_S) and what its queues
    # get after it (BATCHER_STOP_S) to finish.
    drain = float(api["environment"]["SENTIMENT_DRAIN_TIMEOUT_S"]) + BATCHER_STOP_S
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
    published = {port["target"]: port["published"] for port in proxy["ports"]}
    assert published == {8000: "8000", 443: "8443"}  # HTTP and HTTPS (tests/deploy/test_proxy.py)
    assert mounts(proxy)["deploy/proxy/nginx.conf"] == "/etc/nginx/nginx.conf"
    assert services["loadtest"]["environment"]["LOCUST_HOST"] == "http://proxy:8000"
    assert services["api"]["environment"]["SENTIMENT_INFERENCE_THREADS"] == "1"
    nginx = (DEPLOY / "proxy" / "nginx.conf").read_text()
    assert "resolver 127.0.0.11" in nginx and "server api:8000 resolve;" in nginx


def test_nothing_is_published_beyond_this_host_by_default() -> None:
    services = compose_config()["services"]
    assert "--web.enable-lifecycle" not in services["prometheus"]["command"]
    for name in ("api", "prometheus", "grafana"):
        assert services[name]["ports"][0]["host_ip"] == "127.0.0.1", name
    proxy = compose_config(SCALE)["services"]["proxy"]
    assert {port["host_ip"] for port in proxy["ports"]} == {"127.0.0.1"}
    grafana = services["grafana"]["environment"]
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    opened = compose_config(GRAFANA_BIND="0.0.0.0", GRAFANA_ADMIN_PASSWORD="s3cret-long-one")
    assert opened["services"]["grafana"]["ports"][0]["host_ip"] == "0.0.0.0"
    assert opened["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == (
        "s3cret-long-one"
    )


def test_the_api_is_opened_only_by_api_bind() -> None:
    opened = compose_config(API_BIND="0.0.0.0")["services"]
    assert opened["api"]["ports"][0]["host_ip"] == "0.0.0.0"
    assert opened["prometheus"]["ports"][0]["host_ip"] == "127.0.0.1"
    proxy = compose_config(SCALE, API_BIND="0.0.0.0")["services"]["proxy"]
    (plain,) = [port for port in proxy["ports"] if port["target"] == 8000]
    assert plain["host_ip"] == "0.0.0.0"


def test_every_setting_left_out_is_a_real_one() -> None:
    assert set(FIXED_IN_COMPOSE) <= set(Settings.model_fields), "a setting was renamed"
    # The ones fixed here are the ones the compose file's own comment lists.
    text = (ROOT / "docker-compose.yml").read_text()
    comment = text[text.index("# Every SENTIMENT_* setting") : text.index("    environment:")]
    assert set(re.findall(r"SENTIMENT_\w+", comment)) - {"SENTIMENT_"} == {
        variable(n) for n in FIXED_IN_COMPOSE
    }


def test_every_other_setting_passes_through() -> None:
    given = {name: f"from-the-environment-{i}" for i, name in enumerate(PASSED_THROUGH)}
    environment = compose_config(**given)["services"]["api"]["environment"]
    assert {name: environment.get(name) for name in given} == given
    # The fixed ones stay as they are, whatever the environment says.
    fixed = {variable(n): v for n, v in FIXED_IN_COMPOSE.items() if v is not None}
    pushed = compose_config(**{name: "9" for name in fixed})["services"]["api"]["environment"]
    assert {name: pushed[name] for name in fixed} == fixed
    for setting, value in FIXED_IN_COMPOSE.items():
        if value is None:
            assert variable(setting) not in environment


def test_left_unset_the_service_gets_its_own_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """What compose passes when nothing is set (mostly empty values) is valid, and means the
    service's defaults: Settings read an empty variable as unset."""
    environment = compose_config()["services"]["api"]["environment"]
    assert environment["SENTIMENT_API_KEYS"] == "", "no key is ever written into the file"
    for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    fixed = {n: v for n, v in FIXED_IN_COMPOSE.items() if v is not None}
    expected = Settings(**fixed)  # the service's defaults but for those, read from no variable
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert load_settings() == expected


def test_compose_never_blanks_a_setting_that_the_image_sets() -> None:
    """An empty value in `environment` replaces the image's ENV: a setting the Dockerfile sets
    is either left alone or given the image's value by default."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    runtime = dockerfile[dockerfile.rindex("\nFROM ") :]
    image = dict(re.findall(r"\b(SENTIMENT_\w+)=(\S+)", runtime))
    assert {"SENTIMENT_HOST", "SENTIMENT_PORT"} <= set(image)
    environment = compose_config()["services"]["api"]["environment"]
    for name, value in image.items():
        assert environment.get(name, value) == value, name
