"""deploy/ray/rayjob.yaml, the RayJob that scores files on a KubeRay cluster: valid against the
vendored RayJob schema (deploy/ray/rayjob.schema.json; the Kubernetes schemas have no RayJob) and
its pod templates against the Kubernetes schemas, kept out of the service's kustomization, and
consistent with sentiment-score and with the sizing it states."""

from __future__ import annotations

import copy
import json
import shlex

import jsonschema
import kubernetes_validate
import pytest
import yaml

from bulk.cli import parser
from tests.deploy.conftest import DEPLOY, ROOT
from tests.deploy.test_kubernetes import VERSIONS

RAY = DEPLOY / "ray"
# The sizing of docs/bulk-scoring.md: an actor's peak (python -m benchmarks.bulk measured 788 MiB
# scoring long reviews), the share of a pod's memory Ray gives its object store by default, and
# Ray's own processes with the read and write tasks.
ACTOR_GIB, OBJECT_STORE_SHARE, RAY_PROCESSES_GIB = 0.8, 0.3, 1.0
SCHEMA = json.loads((RAY / "rayjob.schema.json").read_text())


def rayjob() -> dict:
    return yaml.safe_load((RAY / "rayjob.yaml").read_text())


def validate(manifest: dict) -> None:
    jsonschema.validate(manifest, SCHEMA, cls=jsonschema.Draft202012Validator)


def templates(manifest: dict) -> list[dict]:
    cluster = manifest["spec"]["rayClusterSpec"]
    return [cluster["headGroupSpec"]["template"]] + [
        g["template"] for g in cluster["workerGroupSpecs"]
    ]


def test_the_schema_is_a_schema_and_the_rayjob_meets_it() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    validate(rayjob())


@pytest.mark.parametrize("version", VERSIONS)
def test_its_pod_templates_meet_the_kubernetes_schema(version: str) -> None:
    for template in templates(rayjob()):
        pod = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}}
        kubernetes_validate.validate({**pod, "template": template}, version, strict=True)


@pytest.mark.parametrize(
    "break_it",
    [
        lambda m: m["spec"]["rayClusterSpec"]["workerGroupSpecs"][0].update(replica=8),
        lambda m: m["spec"].update(shutdownAfterJobFinish=True),
        lambda m: m["spec"].update(submissionMode="K8sMode"),
        lambda m: m.update(apiVersion="ray.io/v1alpha1"),
        lambda m: m["spec"]["rayClusterSpec"].pop("headGroupSpec"),
    ],
)
def test_a_broken_rayjob_is_caught(break_it) -> None:  # noqa: ANN001
    broken = copy.deepcopy(rayjob())
    break_it(broken)
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)


def test_it_is_not_deployed_with_the_service() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())
    assert not any("ray" in r for r in kustomization["resources"])
    assert not list((DEPLOY / "kubernetes").glob("*ray*"))


def test_the_entrypoint_is_a_resumable_sentiment_score_on_object_storage() -> None:
    command = shlex.split(rayjob()["spec"]["entrypoint"])
    assert command[0] == "sentiment-score"
    args = parser().parse_args(command[1:])
    assert args.engine == "ray" and args.ray_address == "auto" and args.resume
    assert all(p.startswith("s3://") for p in [*args.inputs, args.output])


def test_the_actors_leave_cpus_for_reads_and_writes_and_fit_in_memory() -> None:
    manifest = rayjob()
    args = parser().parse_args(shlex.split(manifest["spec"]["entrypoint"])[1:])
    cluster = manifest["spec"]["rayClusterSpec"]
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    cpus = 0
    for group in cluster["workerGroupSpecs"]:
        (container,) = group["template"]["spec"]["containers"]
        resources = container["resources"]
        assert resources["requests"] == resources["limits"]  # Guaranteed: no eviction mid-run
        assert group["rayStartParams"]["num-cpus"] == resources["limits"]["cpu"]
        assert group["replicas"] == group["minReplicas"] == group["maxReplicas"]
        cpus += group["replicas"] * int(group["rayStartParams"]["num-cpus"])
        memory_gib = int(resources["limits"]["memory"].removesuffix("Gi"))
        actors = int(resources["limits"]["cpu"])
        needed = actors * ACTOR_GIB + OBJECT_STORE_SHARE * memory_gib + RAY_PROCESSES_GIB
        assert needed <= memory_gib, f"{group['groupName']}: {needed:.1f} GiB in {memory_gib}"
    assert 1 <= cpus - args.workers <= 4  # bulk.ray_engine: actors wait for ever without spare


def test_the_docs_show_this_manifest_and_how_the_schema_was_made() -> None:
    docs = (ROOT / "docs" / "bulk-scoring.md").read_text()
    assert "deploy/ray/rayjob.yaml" in docs and "deploy/ray/rayjob.schema.json" in docs
    assert "faithful subset" in docs
