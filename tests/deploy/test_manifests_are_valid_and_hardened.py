"""deploy/: the Kubernetes manifests pass the Kubernetes schemas (kubernetes-validate, strict)
and every pod follows the hardening rules; compose pins its images and runs the prune."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
MANIFESTS = DEPLOY / "kubernetes.yaml"


def documents() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(MANIFESTS.read_text()) if doc]


def pod_specs() -> list[tuple[str, dict[str, Any]]]:
    specs = []
    for doc in documents():
        spec = doc["spec"]
        if doc["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if "template" in spec:
            specs.append((f"{doc['kind']}/{doc['metadata']['name']}", spec["template"]["spec"]))
    return specs


def test_manifests_pass_the_kubernetes_schemas() -> None:
    validate = shutil.which("kubernetes-validate") or str(
        Path(sys.executable).parent / "kubernetes-validate"
    )
    if not Path(validate).exists():
        pytest.skip("kubernetes-validate is not installed (dev extra)")
    result = subprocess.run(
        [validate, "--strict", str(MANIFESTS)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("name", "pod"), pod_specs(), ids=[name for name, _ in pod_specs()])
def test_every_pod_is_hardened(name: str, pod: dict[str, Any]) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    for container in pod["containers"]:
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"]["drop"] == ["ALL"]
        assert {"requests", "limits"} <= set(container["resources"])
        assert ":" in container["image"] and not container["image"].endswith(":latest")


def test_api_pods_leave_the_load_balancer_before_sigterm() -> None:
    api = dict(pod_specs())["Deployment/content-jobs-api"]
    assert api["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in documents()}
    assert ("PodDisruptionBudget", "content-jobs-api") in kinds
    assert ("CronJob", "content-jobs-prune") in kinds
    assert ("Job", "content-jobs-migrate") in kinds


def test_compose_pins_images_and_prunes() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), name
    assert "prune" in " ".join(compose["services"]["prune"]["command"])


def test_metrics_are_served_on_their_own_port_that_nothing_exposes() -> None:
    """Every serving container sets METRICS_PORT (then /metrics and /readyz are not on the
    public port); compose publishes only nginx, the Service targets only `http`, and nginx
    answers 404 for /metrics."""
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        if "serve" in service.get("command", []):
            assert service["environment"]["METRICS_PORT"], name
            assert "ports" not in service, name
    assert compose["services"]["nginx"]["ports"] == ["8080:8080"]
    for name, pod in pod_specs():
        for container in pod["containers"]:
            if "serve" not in container["args"]:
                continue
            env = {e["name"]: e["value"] for e in container.get("env", [])}
            assert env.get("METRICS_PORT"), name
            port = int(env["METRICS_PORT"])
            probe = container["readinessProbe"]["httpGet"]
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            assert ports[probe["port"]] == port, name
    services = [doc for doc in documents() if doc["kind"] == "Service"]
    assert all(p["targetPort"] == "http" for doc in services for p in doc["spec"]["ports"])
    assert "location = /metrics {\n            return 404;" in (DEPLOY / "nginx.conf").read_text()
