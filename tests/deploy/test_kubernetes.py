"""The Kubernetes manifests: valid against the Kubernetes schemas (kubernetes-validate, offline),
and consistent with each other, the image and the service's settings."""

from __future__ import annotations

import copy
import re

import kubernetes_validate
import pytest
import yaml

from service.app import BATCHER_STOP_S
from service.settings import ENV_PREFIX, Settings
from tests.deploy.conftest import DEPLOY, ROOT

KUBERNETES = DEPLOY / "kubernetes"
# The newest schemas the package knows, and the oldest still supported by the major clouds.
VERSIONS = [kubernetes_validate.utils.latest_version(), "1.32.0"]


def manifests() -> dict[str, dict]:
    """{kind: manifest} of every file of deploy/kubernetes/ but the kustomization."""
    found = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            for doc in yaml.safe_load_all(path.read_text()):
                found[doc["kind"]] = doc
    return found


def container(deployment: dict) -> dict:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", sorted(manifests()))
def test_manifest_validates_against_the_kubernetes_schema(kind: str, version: str) -> None:
    kubernetes_validate.validate(manifests()[kind], version, strict=True)


def test_a_broken_manifest_is_caught() -> None:
    broken = copy.deepcopy(manifests()["Deployment"])
    container(broken)["resource"] = container(broken).pop("resources")  # a typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[0], strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    files = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    assert set(manifests()) == {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "ConfigMap",
    }


def test_concurrent_batches_match_the_cpu_limit() -> None:
    api = container(manifests()["Deployment"])
    env = {e["name"]: e.get("value") for e in api["env"]}
    limits, requests = api["resources"]["limits"], api["resources"]["requests"]
    assert env["SENTIMENT_INFERENCE_THREADS"] == limits["cpu"] == requests["cpu"]
    assert env["SENTIMENT_TORCH_THREADS"] == "1"
    assert limits["memory"] == requests["memory"], "a Guaranteed pod: no surprise eviction"


def test_probes_use_healthz_for_liveness_and_readyz_for_readiness() -> None:
    api = container(manifests()["Deployment"])
    port_names = {p["name"] for p in api["ports"]}
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert api[probe]["httpGet"]["port"] in port_names


def test_the_pieces_select_the_same_pods() -> None:
    found = manifests()
    deployment = found["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selectors = [
        deployment["spec"]["selector"]["matchLabels"],
        found["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
        found["Service"]["spec"]["selector"],
    ]
    for selector in selectors:
        assert selector.items() <= pod_labels.items()
    target = found["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert found["Service"]["spec"]["ports"][0]["targetPort"] in {
        p["name"] for p in container(deployment)["ports"]
    }


def test_the_pod_runs_as_the_image_user_and_outlasts_the_drain() -> None:
    deployment = manifests()["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    user = re.search(r"^USER (\d+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert user and pod["securityContext"]["runAsUser"] == int(user.group(1))
    api = container(deployment)
    env = {e["name"]: e.get("value") for e in api["env"]}
    pause = int(api["lifecycle"]["preStop"]["exec"]["command"][-1])
    queues = BATCHER_STOP_S  # what the service's queues get after the drain
    drain = float(env["SENTIMENT_DRAIN_TIMEOUT_S"])
    assert pod["terminationGracePeriodSeconds"] > pause + drain + queues


def test_the_scrape_config_keeps_the_deployments_pods_on_their_http_port() -> None:
    found = manifests()
    config = yaml.safe_load(found["ConfigMap"]["data"]["prometheus.yml"])
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "sentiment-api" and job["metrics_path"] == "/metrics"
    keep = {
        tuple(r["source_labels"]): r["regex"]
        for r in job["relabel_configs"]
        if r.get("action") == "keep"
    }
    pod_labels = found["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert (
        keep[("__meta_kubernetes_pod_label_app_kubernetes_io_name",)]
        == pod_labels["app.kubernetes.io/name"]
    )
    assert keep[("__meta_kubernetes_pod_container_port_name",)] in {
        p["name"] for p in container(found["Deployment"])["ports"]
    }


def test_every_variable_the_pod_sets_is_a_setting_with_a_valid_value() -> None:
    """A misspelt SENTIMENT_* variable would be ignored silently by the service; a bad value
    would stop every pod at start-up."""
    env = container(manifests()["Deployment"])["env"]
    literal = {e["name"]: e["value"] for e in env if "value" in e}
    names = {e["name"] for e in env}
    assert all(name.startswith(ENV_PREFIX) for name in names)
    fields = {name.removeprefix(ENV_PREFIX).lower() for name in names}
    assert fields <= set(Settings.model_fields), fields - set(Settings.model_fields)
    Settings(**{name.removeprefix(ENV_PREFIX).lower(): v for name, v in literal.items()})
    assert "SENTIMENT_EXPLAIN_CONCURRENCY" in literal


def test_api_keys_come_from_a_secret_that_must_exist() -> None:
    (keys,) = [e for e in container(manifests()["Deployment"])["env"] if e["name"].endswith("KEYS")]
    assert "value" not in keys, "no key is ever written into a manifest"
    ref = keys["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "sentiment-api-keys", "key": "keys"}  # docs/deployment.md creates it
    assert not ref.get("optional", False), "without the Secret, pods must not start keyless"


def documented_ingress() -> dict:
    """The example Ingress of docs/deployment.md (its TLS section)."""
    docs = (ROOT / "docs" / "deployment.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", docs, re.DOTALL)]
    (ingress,) = [b for b in blocks if isinstance(b, dict) and b.get("kind") == "Ingress"]
    return ingress


@pytest.mark.parametrize("version", VERSIONS)
def test_the_documented_ingress_is_valid_terminates_tls_and_reaches_the_service(
    version: str,
) -> None:
    ingress = documented_ingress()
    kubernetes_validate.validate(ingress, version, strict=True)
    service = manifests()["Service"]
    (tls,) = ingress["spec"]["tls"]
    assert tls["secretName"]
    for rule in ingress["spec"]["rules"]:
        assert rule["host"] in tls["hosts"], "every host it serves is served over TLS"
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
