"""Checks of the Dockerfile, docker-compose.yml and the Kubernetes manifests in deploy/k8s, offline.

Schemas come from maintained validators, not from this file: docker-compose.yml is validated with
check-jsonschema against the compose-spec schema it vendors, and every rendered Kubernetes object
with kubernetes-validate in strict mode (the Kubernetes OpenAPI schemas it ships; unknown fields
are errors). The only custom resources, CloudNativePG's, have no schema offline: they are listed in
CUSTOM_RESOURCES and their few fields the system relies on are checked here instead.

Rendering: `kubectl kustomize` (kustomize 5, part of kubectl) when kubectl is on the PATH; and
always the small kustomize subset below (resources, generators, JSON patches, images), since no
maintained kustomize that runs offline installs from PyPI for Python 3.11. A test checks that both
render the same objects. On top of the schemas come semantic checks (probes, ports, routes, flows,
migrations); each is a function returning the problems it found, so that the tests also show each
check failing on a broken copy."""

from __future__ import annotations

import copy
import functools
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]

from libs.servicekit.app import GRACEFUL_SHUTDOWN_SECONDS, STOP_TIMEOUT_SECONDS

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
OTEL_COLLECTOR_CONFIG = ROOT / "deploy" / "compose" / "otel-collector.yaml"
PROMETHEUS_CONFIG = ROOT / "deploy" / "observability" / "prometheus" / "prometheus.yml"
# The Kubernetes version whose schemas the manifests must satisfy (the oldest we support).
KUBERNETES_VERSION = "1.30.0"
# Custom resources: kubernetes-validate has no schema for them (see the module docstring).
CUSTOM_RESOURCES = {
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("postgresql.cnpg.io/v1", "ScheduledBackup"),
}

Manifest = dict[str, Any]


@dataclass(frozen=True)
class ServiceContract:
    module: str  # python -m services.<module>
    port: int


# The public contract (DESIGN.md): Kubernetes name -> module and port, and who owns which path.
CONTRACT = {
    "assessment": ServiceContract("assessment", 8001),
    "remediation": ServiceContract("remediation", 8002),
    "buyer-sharing": ServiceContract("buyer_sharing", 8003),
    "notifications": ServiceContract("notifications", 8004),
    "advisory": ServiceContract("advisory", 8005),
}
DEPLOYED_NOW = {"assessment", "remediation", "buyer-sharing", "notifications", "advisory"}
ROUTE_OWNERS = {
    "/v1/factories": "assessment",
    "/v1/compliance-catalogue": "assessment",
    "/v1/assessments": "assessment",
    "/v1/improvement-plans": "remediation",
    "/v1/committees": "remediation",
    "/v1/buyers": "buyer-sharing",
    "/v1/sharing-grants": "buyer-sharing",
    "/v1/audit-reliance": "buyer-sharing",
    "/v1/transparency": "buyer-sharing",
    "/v1/access-requests": "buyer-sharing",
    "/v1/webhook-endpoints": "notifications",
    "/v1/messages": "notifications",
    "/v1/deliveries": "notifications",
    "/v1/courses": "advisory",
    "/v1/training-sessions": "advisory",
    "/v1/surveys": "advisory",
    "/v1/advisory-visits": "advisory",
    "/v1/programme": "buyer-sharing",
    "/v1/imports/factories": "assessment",
    "/v1/imports/assessments": "assessment",
    "/v1/imports/committees": "remediation",
    "/v1/imports/plan-items": "remediation",
    "/v1/imports/buyers": "buyer-sharing",
    "/v1/imports/grants": "buyer-sharing",
    "/v1/imports/reliances": "buyer-sharing",
    "/v1/imports/training-sessions": "advisory",
    "/v1/imports/advisory-visits": "advisory",
    "/.well-known/did.json": "assessment",
    "/.well-known/jwks.json": "assessment",
    "/v1/credentials": "assessment",
}
RENDERINGS = ["base", "overlays/dev", "overlays/production"]
# A mount path inside the manifests, not a file this test opens.
SCRATCH_MOUNT = "/tmp"  # noqa: S108


# ---------------------------------------------------------------------------------------------
# Loading and a minimal kustomize


def load_documents(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as stream:
        return [document for document in yaml.safe_load_all(stream) if document is not None]


def deploy_yaml_files() -> list[Path]:
    return sorted(p for p in (ROOT / "deploy").rglob("*") if p.suffix in {".yaml", ".yml"})


def kustomization_dirs() -> list[Path]:
    return sorted(p.parent for p in K8S.rglob("kustomization.yaml"))


def _generator_files(generator: dict[str, Any]) -> Iterator[str]:
    for entry in generator.get("files", []):
        yield str(entry).split("=", 1)[-1]  # "key=path" or "path"
    yield from (str(entry) for entry in generator.get("envs", []))


def referenced_files(spec: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, relative path) for every local file or directory a kustomization names."""
    for name in ("resources", "components", "patchesStrategicMerge"):
        for entry in spec.get(name, []):
            if "://" not in str(entry):  # remote bases are not checked here
                yield name, str(entry)
    for name in ("patches", "patchesJson6902"):
        for patch in spec.get(name, []):
            if "path" in patch:
                yield name, str(patch["path"])
    for name in ("configMapGenerator", "secretGenerator"):
        for generator in spec.get(name, []):
            for path in _generator_files(generator):
                yield name, path


def kustomization_problems(directory: Path, spec: dict[str, Any]) -> list[str]:
    problems = []
    if spec.get("kind") not in {"Kustomization", "Component"}:
        problems.append(f"{directory}: kind is {spec.get('kind')!r}")
    for name, relative in referenced_files(spec):
        target = directory / relative
        if target.is_dir():
            if not (target / "kustomization.yaml").is_file():
                problems.append(f"{directory}: {name} {relative} has no kustomization.yaml")
        elif not target.is_file():
            problems.append(f"{directory}: {name} lists {relative}, which does not exist")
    return problems


@dataclass
class Rendering:
    manifests: list[Manifest] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[Manifest]:
        return [m for m in self.manifests if m.get("kind") == kind]

    def named(self, kind: str, name: str) -> Manifest | None:
        found = [m for m in self.of_kind(kind) if m["metadata"]["name"] == name]
        return found[0] if found else None


def _env_file_keys(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value
    return pairs


def _generate(directory: Path, spec: dict[str, Any], rendering: Rendering) -> None:
    for kind, field_name in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for generator in spec.get(field_name, []):
            data = dict(str(item).partition("=")[::2] for item in generator.get("literals", []))
            for env_file in generator.get("envs", []):
                if (directory / env_file).is_file():
                    data.update(_env_file_keys(directory / env_file))
            for entry in generator.get("files", []):
                key, _, path = str(entry).rpartition("=")
                data[key or Path(path).name] = "<file>"
            name = generator["name"]
            existing = rendering.named(kind, name)
            behavior = generator.get("behavior", "create")
            if behavior == "create":
                if existing is not None:
                    rendering.problems.append(f"{directory}: {kind} {name} generated twice")
                rendering.manifests.append(
                    {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}, "data": data}
                )
            elif existing is None:
                rendering.problems.append(f"{directory}: {behavior} of missing {kind} {name}")
            elif behavior == "merge":
                existing["data"].update(data)
            else:
                existing["data"] = data


def _matches_target(manifest: Manifest, target: dict[str, Any]) -> bool:
    metadata = manifest.get("metadata", {})
    if "kind" in target and manifest.get("kind") != target["kind"]:
        return False
    if "name" in target and metadata.get("name") != target["name"]:
        return False
    labels = metadata.get("labels", {})
    for requirement in filter(None, str(target.get("labelSelector", "")).split(",")):
        key, _, value = requirement.partition("=")
        if labels.get(key.strip()) != value.strip():
            return False
    return True


def apply_json_patch(document: Any, operations: list[dict[str, Any]]) -> None:
    """RFC 6902 add / replace / remove, which is all the overlays use."""
    for operation in operations:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in operation["path"].split("/")[1:]]
        parent = document
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last, op = parts[-1], operation["op"]
        value = copy.deepcopy(operation.get("value"))
        if isinstance(parent, list):
            if op == "add":
                parent.append(value) if last == "-" else parent.insert(int(last), value)
            elif op == "replace":
                parent[int(last)] = value
            elif op == "remove":
                del parent[int(last)]
            else:
                raise ValueError(f"unsupported op {op}")
        elif op == "add":
            parent[last] = value
        elif op in {"replace", "remove"}:
            if last not in parent:
                raise KeyError(operation["path"])
            if op == "replace":
                parent[last] = value
            else:
                del parent[last]
        else:
            raise ValueError(f"unsupported op {op}")


def _patch(directory: Path, spec: dict[str, Any], rendering: Rendering) -> None:
    for patch in spec.get("patches", []):
        if "path" in patch:
            path = directory / patch["path"]
            if not path.is_file():
                continue  # reported by kustomization_problems
            documents = load_documents(path)
            content = documents[0] if len(documents) == 1 else documents
        else:
            content = yaml.safe_load(patch["patch"])
        target = patch.get("target")
        if target is None and isinstance(content, dict):
            target = {"kind": content.get("kind"), "name": content["metadata"]["name"]}
        selected = [m for m in rendering.manifests if _matches_target(m, target or {})]
        if not selected:
            rendering.problems.append(f"{directory}: patch {patch} matches no resource")
        if not isinstance(content, list):
            continue  # a strategic-merge patch: only its target is checked
        for manifest in selected:
            try:
                apply_json_patch(manifest, content)
            except (KeyError, IndexError, ValueError, TypeError) as error:
                rendering.problems.append(f"{directory}: patch {patch} fails: {error!r}")


def pod_spec(manifest: Manifest) -> dict[str, Any] | None:
    if manifest.get("kind") in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        spec: dict[str, Any] = manifest["spec"]["template"]["spec"]
        return spec
    return None


def all_containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def _set_images(spec: dict[str, Any], rendering: Rendering) -> None:
    for image in spec.get("images", []):
        for manifest in rendering.manifests:
            pod = pod_spec(manifest)
            for container in all_containers(pod) if pod else []:
                name, _, tag = str(container["image"]).partition(":")
                if name == image["name"]:
                    container["image"] = (
                        f"{image.get('newName', name)}:{image.get('newTag', tag or 'latest')}"
                    )


@functools.cache
def render(directory: Path) -> Rendering:
    """What `kustomize build directory` would produce, minus name hashes and strategic merges."""
    spec = load_documents(directory / "kustomization.yaml")[0]
    rendering = Rendering(problems=kustomization_problems(directory, spec))
    for entry in [*spec.get("resources", []), *spec.get("components", [])]:
        target = directory / entry
        if (target / "kustomization.yaml").is_file():
            child = render(target)
            rendering.manifests.extend(copy.deepcopy(child.manifests))
            rendering.problems.extend(child.problems)
        elif target.is_file():
            rendering.manifests.extend(load_documents(target))
    _generate(directory, spec, rendering)
    _patch(directory, spec, rendering)
    _set_images(spec, rendering)
    return rendering


def rendered(name: str) -> Rendering:
    """A private copy, so tests may break it without affecting each other."""
    return copy.deepcopy(render(K8S / name))


# ---------------------------------------------------------------------------------------------
# Checks: each returns the problems it found


def _env_value(container: dict[str, Any], name: str) -> Any:
    for variable in container.get("env", []):
        if variable["name"] == name:
            return variable.get("value", variable.get("valueFrom"))
    return None


def _resolve_port(port: Any, container: dict[str, Any]) -> Any:
    if isinstance(port, str) and not port.isdigit():
        for declared in container.get("ports", []):
            if declared.get("name") == port:
                return declared["containerPort"]
        return None
    return int(port)


def _service_name(deployment: Manifest) -> str:
    return str(deployment["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/name"))


def main_container(deployment: Manifest) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    named = [c for c in containers if c["name"] == _service_name(deployment)]
    return named[0] if named else containers[0]


def _security_problems(where: str, pod: dict[str, Any]) -> list[str]:
    problems = []
    pod_security = pod.get("securityContext", {})
    if pod_security.get("runAsNonRoot") is not True:
        problems.append(f"{where}: pod securityContext.runAsNonRoot is not true")
    if pod_security.get("runAsUser", 1) == 0:
        problems.append(f"{where}: pod runs as uid 0")
    if pod_security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append(f"{where}: no RuntimeDefault seccomp profile")
    mounts_needed = {v["name"] for v in pod.get("volumes", [])}
    for container in all_containers(pod):
        context = container.get("securityContext", {})
        label = f"{where}/{container['name']}"
        if context.get("runAsUser", 1) == 0 or context.get("runAsNonRoot") is False:
            problems.append(f"{label}: runs as root")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{label}: allowPrivilegeEscalation is not false")
        if context.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{label}: root filesystem is not read-only")
        if "ALL" not in context.get("capabilities", {}).get("drop", []):
            problems.append(f"{label}: capabilities are not all dropped")
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        if mounts.get(SCRATCH_MOUNT) not in mounts_needed:
            problems.append(f"{label}: no writable /tmp volume on a read-only root filesystem")
        resources = container.get("resources", {})
        for kind, resource in (("requests", "cpu"), ("requests", "memory"), ("limits", "memory")):
            if not resources.get(kind, {}).get(resource):
                problems.append(f"{label}: no resources.{kind}.{resource}")
    return problems


def _probe_problems(label: str, container: dict[str, Any], port: int) -> list[str]:
    problems = []
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        http = container.get(probe, {}).get("httpGet")
        if http is None:
            problems.append(f"{label}: no HTTP {probe}")
            continue
        if http.get("path") != path:
            problems.append(f"{label}: {probe} checks {http.get('path')}, not {path}")
        if _resolve_port(http.get("port"), container) != port:
            problems.append(f"{label}: {probe} port {http.get('port')} is not {port}")
    return problems


def deployment_problems(deployment: Manifest) -> list[str]:
    """The service contract for one Deployment: command, port, probes, security, resources."""
    name = deployment["metadata"]["name"]
    service = _service_name(deployment)
    contract = CONTRACT.get(service)
    if contract is None or service != name:
        return [f"Deployment {name}: not one of the contract's services {sorted(CONTRACT)}"]
    spec, template = deployment["spec"], deployment["spec"]["template"]
    pod, port = template["spec"], contract.port
    problems = _security_problems(f"Deployment {name}", pod)
    selector = spec.get("selector", {}).get("matchLabels", {})
    if not selector or any(template["metadata"]["labels"].get(k) != v for k, v in selector.items()):
        problems.append(f"Deployment {name}: selector does not match the pod labels")

    container = main_container(deployment)
    label = f"Deployment {name}/{container['name']}"
    if container.get("command") != ["python", "-m", f"services.{contract.module}", "serve"]:
        problems.append(f"{label}: command {container.get('command')} does not serve {service}")
    if port not in [p.get("containerPort") for p in container.get("ports", [])]:
        problems.append(f"{label}: does not declare containerPort {port}")
    if _env_value(container, "PORT") != str(port):
        problems.append(f"{label}: PORT is {_env_value(container, 'PORT')!r}, not {port}")
    problems += _probe_problems(label, container, port)

    migrate = [c for c in pod.get("initContainers", []) if c.get("command", [])[-1:] == ["migrate"]]
    if [c["command"] for c in migrate] != [
        ["python", "-m", f"services.{contract.module}", "migrate"]
    ]:
        problems.append(f"Deployment {name}: no initContainer migrating services.{contract.module}")
    elif _env_value(migrate[0], "DATABASE_URL") != _env_value(container, "DATABASE_URL"):
        problems.append(f"Deployment {name}: migrations and service use different DATABASE_URL")
    if migrate and migrate[0].get("image") != container.get("image"):
        problems.append(f"Deployment {name}: migrations run from another image than the service")

    annotations = template["metadata"].get("annotations", {})
    expected = {"prometheus.io/scrape": "true", "prometheus.io/port": str(port)}
    expected["prometheus.io/path"] = "/metrics"
    for key, value in expected.items():
        if annotations.get(key) != value:
            problems.append(f"Deployment {name}: annotation {key} is {annotations.get(key)!r}")

    pre_stop = container.get("lifecycle", {}).get("preStop", {})
    command = pre_stop.get("exec", {}).get("command", [])
    sleep = (
        int(command[1]) if command[:1] == ["sleep"] else pre_stop.get("sleep", {}).get("seconds")
    )
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if sleep is None:
        problems.append(f"{label}: no preStop sleep to let endpoint removal propagate")
    elif grace < int(sleep) + GRACEFUL_SHUTDOWN_SECONDS + STOP_TIMEOUT_SECONDS:
        # after preStop, uvicorn drains requests, then the lifespan stops relay and consumers
        problems.append(
            f"Deployment {name}: grace period {grace}s is shorter than preStop {sleep}s + request "
            f"drain {GRACEFUL_SHUTDOWN_SECONDS}s + consumer stop {STOP_TIMEOUT_SECONDS}s"
        )
    return problems


def _service_for_deployment(rendering: Rendering, deployment: Manifest) -> list[Manifest]:
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    return [
        s
        for s in rendering.of_kind("Service")
        if s["spec"].get("selector")
        and all(labels.get(k) == v for k, v in s["spec"]["selector"].items())
    ]


def service_problems(rendering: Rendering) -> list[str]:
    """Every Deployment is reachable through a Service whose port leads to the container port."""
    problems = []
    for deployment in rendering.of_kind("Deployment"):
        name = deployment["metadata"]["name"]
        contract = CONTRACT.get(name)
        services = _service_for_deployment(rendering, deployment)
        if contract is None or [s["metadata"]["name"] for s in services] != [name]:
            problems.append(f"Deployment {name}: not selected by exactly one Service named {name}")
            continue
        ports = services[0]["spec"].get("ports", [])
        container = main_container(deployment)
        if [
            (p["port"], _resolve_port(p.get("targetPort", p["port"]), container)) for p in ports
        ] != [(contract.port, contract.port)]:
            problems.append(f"Service {name}: ports {ports} do not lead to {contract.port}")
    return problems


def ingress_problems(rendering: Rendering) -> list[str]:
    """Routes by the first segment after /v1 to the owning service, on an existing Service port."""
    problems = []
    ingresses = rendering.of_kind("Ingress")
    if len(ingresses) != 1:
        return [f"expected one Ingress, found {len(ingresses)}"]
    deployed = {d["metadata"]["name"] for d in rendering.of_kind("Deployment")}
    routed: dict[str, str] = {}
    for rule in ingresses[0]["spec"].get("rules", []):
        for path in rule.get("http", {}).get("paths", []):
            backend = path["backend"]["service"]
            target, port = backend["name"], backend["port"]
            if path["path"] in routed:
                problems.append(f"Ingress: {path['path']} routed twice")
            routed[path["path"]] = target
            if path.get("pathType") != "Prefix":
                problems.append(f"Ingress: {path['path']} is not a Prefix path")
            if ROUTE_OWNERS.get(path["path"]) != target:
                problems.append(f"Ingress: {path['path']} goes to {target}, not its owner")
            service = rendering.named("Service", target)
            if service is None:
                problems.append(f"Ingress: {path['path']} goes to missing Service {target}")
                continue
            service_ports = service["spec"].get("ports", [])
            if not any(
                port.get("number") == p["port"]
                or (port.get("name") and port["name"] == p.get("name"))
                for p in service_ports
            ):
                problems.append(f"Ingress: {path['path']} uses port {port} absent from {target}")
    for path, owner in ROUTE_OWNERS.items():
        if owner in deployed and path not in routed:
            problems.append(f"Ingress: {path} of {owner} is not routed")
    return problems


def scaling_problems(rendering: Rendering) -> list[str]:
    """One HPA and one PDB per Deployment; the HPA alone sets the replica count."""
    problems = []
    deployments = {d["metadata"]["name"]: d for d in rendering.of_kind("Deployment")}
    targets: dict[str, int] = dict.fromkeys(deployments, 0)
    for hpa in rendering.of_kind("HorizontalPodAutoscaler"):
        ref, spec = hpa["spec"]["scaleTargetRef"], hpa["spec"]
        if ref.get("kind") != "Deployment" or ref.get("name") not in deployments:
            problems.append(f"HPA {hpa['metadata']['name']}: targets missing {ref}")
            continue
        targets[ref["name"]] += 1
        if not 1 <= spec.get("minReplicas", 1) <= spec["maxReplicas"]:
            problems.append(f"HPA {hpa['metadata']['name']}: bad replica range")
    for name, count in targets.items():
        if count != 1:
            problems.append(f"Deployment {name}: {count} HorizontalPodAutoscalers")
        if "replicas" in deployments[name]["spec"]:
            problems.append(f"Deployment {name}: sets replicas, which fights its HPA")
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        budgets = [
            pdb
            for pdb in rendering.of_kind("PodDisruptionBudget")
            if all(labels.get(k) == v for k, v in pdb["spec"]["selector"]["matchLabels"].items())
        ]
        if len(budgets) != 1:
            problems.append(f"Deployment {name}: {len(budgets)} PodDisruptionBudgets")
    return problems


def reference_problems(rendering: Rendering, external_secrets: set[str]) -> list[str]:
    """Config maps, secrets and service accounts that pods use exist (or are declared external)."""
    problems = []

    def check(kind: str, name: str, key: str | None, optional: bool, where: str) -> None:
        if kind == "Secret" and name in external_secrets:
            return
        found = rendering.named(kind, name)
        if found is None:
            if not optional:
                problems.append(f"{where}: {kind} {name} does not exist")
        elif key is not None and key not in found.get("data", {}):
            problems.append(f"{where}: {kind} {name} has no key {key}")

    for manifest in rendering.manifests:
        pod = pod_spec(manifest)
        if pod is None:
            continue
        where = f"{manifest['kind']} {manifest['metadata']['name']}"
        account = pod.get("serviceAccountName")
        if account and rendering.named("ServiceAccount", account) is None:
            problems.append(f"{where}: ServiceAccount {account} does not exist")
        for container in all_containers(pod):
            for source in container.get("envFrom", []):
                for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                    if key in source:
                        ref = source[key]
                        check(kind, ref["name"], None, ref.get("optional", False), where)
            for variable in container.get("env", []):
                value_from = variable.get("valueFrom", {})
                for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                    if key in value_from:
                        ref = value_from[key]
                        check(kind, ref["name"], ref["key"], ref.get("optional", False), where)
    return problems


def production_external_secrets() -> set[str]:
    """Secrets production pods need that the operator must create (no generator holds them)."""
    production = render(K8S / "overlays" / "production")
    names = set()
    for deployment in production.of_kind("Deployment"):
        for container in all_containers(deployment["spec"]["template"]["spec"]):
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref and not ref.get("optional"):
                    names.add(ref["name"])
    return names


def _compose_env(service: dict[str, Any]) -> dict[str, Any]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        return dict(str(item).partition("=")[::2] for item in environment)
    return dict(environment)


def _command_text(command: Any) -> str:
    return " ".join(command) if isinstance(command, list) else str(command or "")


def _published(ports: list[Any]) -> set[tuple[int, int]]:
    pairs = set()
    for port in ports:
        if isinstance(port, dict):
            pairs.add((int(port.get("published", 0)), int(port["target"])))
        else:
            parts = str(port).split("/")[0].split(":")
            pairs.add((int(parts[-2]) if len(parts) > 1 else 0, int(parts[-1])))
    return pairs


def compose_service_problems(compose: dict[str, Any], name: str) -> list[str]:
    contract = CONTRACT[name]
    services = compose.get("services", {})
    service = services.get(name)
    if service is None:
        return [f"compose: no service {name}"]
    problems = []
    port = contract.port
    if (port, port) not in _published(service.get("ports", [])):
        problems.append(f"compose {name}: port {port} not published as {port}")
    if str(_compose_env(service).get("PORT")) != str(port):
        problems.append(f"compose {name}: PORT is not {port}")
    command = _command_text(service.get("command"))
    if f"services.{contract.module} serve" not in command:
        problems.append(f"compose {name}: command {command!r} does not serve it")
    healthcheck = _command_text(service.get("healthcheck", {}).get("test"))
    if f":{port}/readyz" not in healthcheck:
        problems.append(f"compose {name}: healthcheck {healthcheck!r} is not /readyz on {port}")
    depends = service.get("depends_on", {})
    if not isinstance(depends, dict):
        return [*problems, f"compose {name}: depends_on has no conditions"]
    for infrastructure in ("postgres", "nats"):
        if depends.get(infrastructure, {}).get("condition") != "service_healthy":
            problems.append(f"compose {name}: does not wait for a healthy {infrastructure}")
    migrate = f"services.{contract.module} migrate"
    serve = f"services.{contract.module} serve"
    migrated_first = migrate in command and serve in command
    migrated_first = migrated_first and command.index(migrate) < command.index(serve)
    for other, condition in depends.items():
        if condition.get("condition") == "service_completed_successfully":
            migrated_first |= migrate in _command_text(services.get(other, {}).get("command"))
    if not migrated_first:
        problems.append(f"compose {name}: migrations do not run before it serves")
    return problems


def resolve_dockerfile(raw: str) -> str:
    """The Dockerfile with line continuations joined and ARG defaults substituted."""
    text = raw.replace("\\\n", " ")
    for arg, default in re.findall(r"^ARG\s+(\w+)=(\S+)", text, flags=re.MULTILINE):
        text = text.replace(f"${{{arg}}}", default.strip('"'))
    return text


def dockerfile_problems(text: str) -> list[str]:
    problems = []
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, flags=re.MULTILINE | re.I)
    names = {stage for _, stage in stages if stage}
    for image, _ in stages:
        if image not in names and not re.fullmatch(r"python:3\.1[12]-slim(-\w+)?", image):
            problems.append(f"Dockerfile: base image {image} is not python:3.11/3.12-slim")
    if not re.search(r"\buv==0\.13\.9\b", text):
        problems.append("Dockerfile: uv is not pinned to 0.13.9")
    sync = re.search(r"^RUN .*\buv sync\b(.*)$", text, flags=re.MULTILINE)
    if sync is None or not all(
        flag in sync.group(1) for flag in ("--frozen", "--no-dev", "--no-group local")
    ):
        problems.append("Dockerfile: no `uv sync --frozen --no-dev --no-group local`")
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    if not users or users[-1].split(":")[0] in {"root", "0"}:
        problems.append("Dockerfile: the final user is root")
    for directory in ("libs", "services"):
        if not re.search(rf"^COPY\s+(--\S+\s+)*{directory}/", text, flags=re.MULTILINE):
            problems.append(f"Dockerfile: {directory}/ is not copied")
    commands = re.findall(r"^(?:CMD|ENTRYPOINT)\s+(.*)$", text, flags=re.MULTILINE)
    if any(not command.startswith("[") for command in commands):
        problems.append("Dockerfile: shell-form CMD/ENTRYPOINT would not pass SIGTERM on")
    return problems


# ---------------------------------------------------------------------------------------------
# Maintained validators and renderer


def schema_problems(manifests: list[Manifest]) -> list[str]:
    """Every object against the Kubernetes OpenAPI schema, strictly (kubernetes-validate)."""
    problems = []
    for manifest in manifests:
        where = f"{manifest.get('kind')} {manifest.get('metadata', {}).get('name')}"
        if (manifest.get("apiVersion"), manifest.get("kind")) in CUSTOM_RESOURCES:
            continue
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = "/".join(str(part) for part in error.absolute_path)
            problems.append(f"{where}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(f"{where}: {error}")
    return problems


def kubectl_kustomize(directory: Path) -> list[Manifest]:
    """`kubectl kustomize directory`: the real kustomize, offline."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed here")
    built = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert built.returncode == 0, built.stderr
    return [document for document in yaml.safe_load_all(built.stdout) if document]


def compose_schema_problems(path: Path) -> list[str]:
    """docker-compose.yml against the compose-spec schema vendored by check-jsonschema."""
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return [] if checked.returncode == 0 else [checked.stdout + checked.stderr]


def _without_hash(name: str) -> str:
    """kustomize appends a content hash to generated ConfigMaps and Secrets."""
    return re.sub(r"-[a-z0-9]{10}$", "", name)


# ---------------------------------------------------------------------------------------------
# Network policies: which ports a pod may reach and be reached on


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    wanted = selector.get("matchLabels", {})
    return all(labels.get(key) == value for key, value in wanted.items())


def policies_for(rendering: Rendering, labels: dict[str, str], direction: str) -> list[Manifest]:
    kind = "Ingress" if direction == "ingress" else "Egress"
    return [
        policy
        for policy in rendering.of_kind("NetworkPolicy")
        if kind in policy["spec"].get("policyTypes", [])
        and _selects(policy["spec"]["podSelector"], labels)
    ]


def egress_ports(rendering: Rendering, labels: dict[str, str]) -> set[int]:
    """Every port a pod with these labels may open connections to, whatever the destination."""
    return {
        int(port["port"])
        for policy in policies_for(rendering, labels, "egress")
        for rule in policy["spec"].get("egress", [])
        for port in rule.get("ports", [])
    }


def egress_peers(rendering: Rendering, labels: dict[str, str], port: int) -> list[dict[str, Any]]:
    return [
        peer
        for policy in policies_for(rendering, labels, "egress")
        for rule in policy["spec"].get("egress", [])
        if any(p.get("port") == port for p in rule.get("ports", []))
        for peer in rule.get("to", [{}])
    ]


def ingress_allowed(
    rendering: Rendering, target: dict[str, str], source: dict[str, str], port: int | str
) -> bool:
    """Whether a pod in the same namespace with `source` labels may connect to `target` on port."""
    for policy in policies_for(rendering, target, "ingress"):
        for rule in policy["spec"].get("ingress", []):
            if not any(p.get("port") == port for p in rule.get("ports", [])):
                continue
            for peer in rule.get("from", []):
                if "namespaceSelector" not in peer and _selects(peer["podSelector"], source):
                    return True
    return False


def network_problems(rendering: Rendering) -> list[str]:
    """Default deny, and only the flows that exist: DNS, NATS, PostgreSQL, webhooks on 443."""
    problems = []
    deny = [
        p
        for p in rendering.of_kind("NetworkPolicy")
        if p["spec"]["podSelector"] == {}
        and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    if not deny:
        problems.append("no default-deny NetworkPolicy for every pod")
    allowed_out = {53, 4222, 5432} | (
        {4318} if rendering.named("Cluster", "betterwork-pg") else set()
    )
    for deployment in rendering.of_kind("Deployment"):
        name = deployment["metadata"]["name"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        ports = egress_ports(rendering, labels)
        expected = allowed_out | ({443} if name == "notifications" else set())
        if ports != expected:
            problems.append(f"Deployment {name}: may connect to ports {ports}, not {expected}")
        if ingress_allowed(rendering, labels, {}, "http"):
            problems.append(f"Deployment {name}: any pod may connect to it")
        for peer in egress_peers(rendering, labels, 443):
            block = peer.get("ipBlock", {})
            private = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"}
            if block.get("cidr") == "0.0.0.0/0" and not private <= set(block.get("except", [])):
                problems.append(f"Deployment {name}: https egress reaches private addresses")
            if "ipBlock" not in peer:
                problems.append(f"Deployment {name}: https egress to {peer}, not the internet")
    app = {"app.kubernetes.io/part-of": "betterwork", "app.kubernetes.io/component": "migration"}
    for server, port in (("nats", 4222), ("postgres", 5432)):
        servers = [
            s
            for s in [*rendering.of_kind("StatefulSet")]
            if s["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/name") == server
        ]
        targets = [s["spec"]["template"]["metadata"]["labels"] for s in servers]
        cluster = rendering.named("Cluster", "betterwork-pg")
        if server == "postgres" and cluster is not None:
            targets.append({"cnpg.io/cluster": "betterwork-pg", **_cnpg_pod_labels(cluster)})
        if not targets:
            problems.append(f"no {server} in this rendering")
        for target in targets:
            if not ingress_allowed(rendering, target, app, port):
                problems.append(f"{server}: the services may not connect on {port}")
            if ingress_allowed(rendering, target, {"app": "stranger"}, port):
                problems.append(f"{server}: any pod may connect on {port}")
            if not any(
                _selects(peer.get("podSelector", {"x": 1}), target)
                for peer in egress_peers(rendering, app, port)
            ):
                problems.append(f"{server}: the services' egress policy does not reach it")
    return problems


def _cnpg_pod_labels(cluster: Manifest) -> dict[str, str]:
    labels: dict[str, str] = cluster["spec"].get("inheritedMetadata", {}).get("labels", {})
    return labels


# ---------------------------------------------------------------------------------------------
# Migration Jobs and the NATS cluster


def migration_job_problems(rendering: Rendering) -> list[str]:
    """One Job per service running its migrations, like its initContainer, and never selected by
    the service's Service, PDB or Deployment (its pods are not API servers)."""
    problems = []
    jobs = rendering.of_kind("Job")
    for deployment in rendering.of_kind("Deployment"):
        name = deployment["metadata"]["name"]
        contract = CONTRACT[name]
        command = ["python", "-m", f"services.{contract.module}", "migrate"]
        mine = [
            job
            for job in jobs
            if job["spec"]["template"]["spec"]["containers"][0].get("command") == command
        ]
        if len(mine) != 1:
            problems.append(f"Deployment {name}: {len(mine)} migration Jobs")
            continue
        job, container = mine[0], mine[0]["spec"]["template"]["spec"]["containers"][0]
        pod = job["spec"]["template"]["spec"]
        problems += _security_problems(f"Job {job['metadata']['name']}", pod)
        if pod.get("restartPolicy") not in {"OnFailure", "Never"}:
            problems.append(
                f"Job {job['metadata']['name']}: restartPolicy {pod.get('restartPolicy')}"
            )
        if container.get("image") != main_container(deployment).get("image"):
            problems.append(f"Job {job['metadata']['name']}: another image than {name}")
        if _env_value(container, "DATABASE_URL") != _env_value(
            main_container(deployment), "DATABASE_URL"
        ):
            problems.append(f"Job {job['metadata']['name']}: another DATABASE_URL than {name}")
        job_labels = job["spec"]["template"]["metadata"]["labels"]
        selectors = [deployment["spec"]["selector"]]
        selectors += [
            {"matchLabels": s["spec"]["selector"]}
            for s in rendering.of_kind("Service")
            if s["spec"].get("selector")
        ]
        selectors += [p["spec"]["selector"] for p in rendering.of_kind("PodDisruptionBudget")]
        if any(
            selector.get("matchLabels") and _selects(selector, job_labels) for selector in selectors
        ):
            problems.append(f"Job {job['metadata']['name']}: its pods are selected as API pods")
    return problems


def _nats_config(rendering: Rendering) -> str:
    config = rendering.named("ConfigMap", "nats-config")
    return str((config or {}).get("data", {}).get("nats.conf", ""))


def nats_cluster_problems(rendering: Rendering) -> list[str]:
    """Three JetStream servers routed to each other, file store on volumes, probes, lame duck."""
    problems = []
    nats = rendering.named("StatefulSet", "nats")
    if nats is None:
        return ["no NATS StatefulSet"]
    spec, pod = nats["spec"], nats["spec"]["template"]["spec"]
    replicas, service = spec.get("replicas", 1), spec["serviceName"]
    if replicas < 3:
        problems.append(f"NATS: {replicas} servers, not a 3-node cluster")
    headless = rendering.named("Service", service)
    if headless is None or headless["spec"].get("clusterIP") != "None":
        problems.append(f"NATS: serviceName {service} is not a headless Service")
    config = _nats_config(rendering)
    routes = set(re.findall(r"nats://([\w.-]+):6222", config))
    expected = {f"nats-{i}.{service}" for i in range(replicas)}
    if routes != expected:
        problems.append(f"NATS: routes {sorted(routes)} are not {sorted(expected)}")
    store = re.search(r"store_dir:\s*(\S+)", config)
    container = pod["containers"][0]
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}
    if store is None or mounts.get(store.group(1)) not in claims:
        problems.append("NATS: the JetStream file store is not on a persistent volume")
    for probe in ("livenessProbe", "readinessProbe"):
        if (
            container.get(probe, {}).get("httpGet", {}).get("path")
            != "/healthz?js-enabled-only=true"
        ):
            problems.append(f"NATS: {probe} is not /healthz?js-enabled-only=true")
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    if "--signal" not in pre_stop or not any(str(a).startswith("ldm") for a in pre_stop):
        problems.append("NATS: no lame-duck preStop (nats-server --signal ldm)")
    durations = [
        int(s) for s in re.findall(r"lame_duck_(?:duration|grace_period):\s*(\d+)s", config)
    ]
    if pod.get("terminationGracePeriodSeconds", 30) <= sum(durations):
        problems.append("NATS: the grace period ends lame-duck mode early")
    budget = [
        p
        for p in rendering.of_kind("PodDisruptionBudget")
        if _selects(p["spec"]["selector"], nats["spec"]["template"]["metadata"]["labels"])
    ]
    if [b["spec"].get("maxUnavailable") for b in budget] != [1]:
        problems.append("NATS: no PodDisruptionBudget of one server at a time")
    return problems


# ---------------------------------------------------------------------------------------------
# Tests on the real files


@pytest.mark.parametrize("path", deploy_yaml_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_deploy_yaml_document_parses(path: Path) -> None:
    documents = load_documents(path)
    assert documents, f"{path} is empty"
    for document in documents:
        assert isinstance(document, dict | list)
        if (
            isinstance(document, dict)
            and "kind" in document
            and document["kind"] != "Kustomization"
        ):
            assert document.get("apiVersion"), document
            assert document.get("metadata", {}).get("name"), document


def test_compose_file_parses() -> None:
    compose = load_documents(COMPOSE)
    assert len(compose) == 1
    assert isinstance(compose[0]["services"], dict)


@pytest.mark.parametrize("directory", kustomization_dirs(), ids=lambda p: str(p.relative_to(K8S)))
def test_kustomization_lists_only_existing_files(directory: Path) -> None:
    spec = load_documents(directory / "kustomization.yaml")[0]
    assert kustomization_problems(directory, spec) == []


def test_every_manifest_file_is_used_by_a_kustomization() -> None:
    used = {
        (directory / relative).resolve()
        for directory in kustomization_dirs()
        for _, relative in referenced_files(load_documents(directory / "kustomization.yaml")[0])
    }
    orphans = [
        path
        for path in K8S.rglob("*.yaml")
        if path.name != "kustomization.yaml" and path.resolve() not in used
    ]
    assert orphans == []


@pytest.mark.parametrize("name", RENDERINGS)
def test_kustomization_renders(name: str) -> None:
    assert rendered(name).problems == []


@pytest.mark.parametrize("name", RENDERINGS)
def test_deployments_follow_the_service_contract(name: str) -> None:
    rendering = rendered(name)
    deployments = rendering.of_kind("Deployment")
    assert {d["metadata"]["name"] for d in deployments} >= DEPLOYED_NOW
    assert [p for d in deployments for p in deployment_problems(d)] == []


@pytest.mark.parametrize("name", RENDERINGS)
def test_services_ingress_and_scaling_fit_the_deployments(name: str) -> None:
    rendering = rendered(name)
    assert service_problems(rendering) == []
    assert ingress_problems(rendering) == []
    assert scaling_problems(rendering) == []


OPENAPI_OWNERS = {
    "assessment": "assessment",
    "remediation": "remediation",
    "buyer_sharing": "buyer-sharing",
    "notifications": "notifications",
    "advisory": "advisory",
}


@pytest.mark.parametrize("service", sorted(OPENAPI_OWNERS))
def test_every_public_path_of_a_service_reaches_it_through_the_ingress(service: str) -> None:
    """The longest ingress prefix of each documented path names the service whose OpenAPI
    document has it: a new route nobody routed is caught here. Not routed: the operators' /ops
    and each service's own signed history (/v1/history, the same path on every service: reached
    at the service, as the operator CLI does)."""
    document = json.loads((ROOT / "docs" / "openapi" / f"{service}.json").read_text())
    ingress = rendered("base").of_kind("Ingress")[0]["spec"]["rules"][0]["http"]["paths"]
    routes = {entry["path"]: entry["backend"]["service"]["name"] for entry in ingress}
    lost = []
    for path in document["paths"]:
        if path.startswith(("/ops/", "/v1/history/")):
            continue
        prefixes = [prefix for prefix in routes if path == prefix or path.startswith(prefix + "/")]
        owner = routes[max(prefixes, key=len)] if prefixes else None
        if owner != OPENAPI_OWNERS[service]:
            lost.append(f"{path} -> {owner}")
    assert lost == []


def test_dev_overlay_provides_everything_its_pods_reference() -> None:
    assert reference_problems(rendered("overlays/dev"), external_secrets=set()) == []


def test_production_overlay_documents_the_secrets_operators_must_create() -> None:
    production = rendered("overlays/production")
    external = production_external_secrets()
    assert external == {
        "assessment-db",
        "remediation-db",
        "buyer-sharing-db",
        "notifications-db",
        "notifications-secrets",
        "advisory-db",
        "assessment-credential-keys",
    }
    assert reference_problems(production, external_secrets=external) == []
    documentation = DEPLOY_DOC.read_text(encoding="utf-8")
    overlay = (K8S / "overlays" / "production" / "kustomization.yaml").read_text(encoding="utf-8")
    for secret in external:
        assert secret in documentation and secret in overlay, secret


def test_dev_bundles_servers_and_hs256_while_production_uses_external_ones_and_jwks() -> None:
    dev, production = rendered("overlays/dev"), rendered("overlays/production")
    for deployment in dev.of_kind("Deployment"):
        assert _env_value(main_container(deployment), "BW_JWT_SECRET") is not None
    for deployment in production.of_kind("Deployment"):
        assert _env_value(main_container(deployment), "BW_JWT_SECRET") is None
    production_config = production.named("ConfigMap", "betterwork-config")
    assert production_config is not None
    assert production_config["data"]["BW_JWT_JWKS_URL"].startswith("https://")
    assert production_config["data"]["BW_SUBJECT_PREFIX"] == ""
    # production: the 3-node JetStream cluster and PostgreSQL from the CloudNativePG operator
    assert [s["metadata"]["name"] for s in production.of_kind("StatefulSet")] == ["nats"]
    assert production.named("Cluster", "betterwork-pg") is not None
    dev_servers = {s["metadata"]["name"]: s for s in dev.of_kind("StatefulSet")}
    assert set(dev_servers) == {"nats", "postgres"}
    assert "-js" in dev_servers["nats"]["spec"]["template"]["spec"]["containers"][0]["args"]
    for server in dev_servers.values():
        assert server["spec"]["volumeClaimTemplates"], "dev servers keep their data on a volume"
    hpas = [h["spec"]["minReplicas"] for h in production.of_kind("HorizontalPodAutoscaler")]
    assert hpas and min(hpas) >= 3


@pytest.mark.parametrize("name", ["overlays/dev", "overlays/production"])
def test_overlays_pin_the_image_tag(name: str) -> None:
    for deployment in rendered(name).of_kind("Deployment"):
        for container in all_containers(deployment["spec"]["template"]["spec"]):
            image = container["image"]
            assert ":" in image and not image.endswith(":latest"), image


@pytest.mark.parametrize("name", sorted(DEPLOYED_NOW))
def test_compose_runs_each_service_after_its_migrations(name: str) -> None:
    assert compose_service_problems(load_documents(COMPOSE)[0], name) == []


def test_compose_infrastructure() -> None:
    services = load_documents(COMPOSE)[0]["services"]
    nats, postgres = services["nats"], services["postgres"]
    assert nats["image"].startswith("nats:")
    assert "-js" in _command_text(nats["command"])
    assert nats["volumes"] and nats["healthcheck"]["test"]
    assert re.fullmatch(r"postgres:1[67](\.\d+)?(-\w+)?", postgres["image"])
    assert "pg_isready" in _command_text(postgres["healthcheck"]["test"])
    assert postgres["volumes"]
    for name in DEPLOYED_NOW:
        environment = _compose_env(services[name])
        assert "@postgres:5432/" in environment["DATABASE_URL"]
        assert environment["NATS_URL"] == "nats://nats:4222"


def test_dockerfile_builds_a_locked_non_root_image() -> None:
    assert dockerfile_problems(resolve_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))) == []


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    # Everything is excluded, then only what the image needs is let back in.
    assert patterns[0] == "*"
    assert {p for p in patterns if p.startswith("!")} == {
        "!pyproject.toml",
        "!uv.lock",
        "!libs",
        "!services",
    }


# ---------------------------------------------------------------------------------------------
# The checks above fail on broken manifests


def _dev_deployment(rendering: Rendering) -> Manifest:
    deployment = rendering.named("Deployment", "assessment")
    assert deployment is not None
    return deployment


def _dev_container(rendering: Rendering) -> dict[str, Any]:
    return main_container(_dev_deployment(rendering))


def _dev_pod(rendering: Rendering) -> dict[str, Any]:
    pod: dict[str, Any] = _dev_deployment(rendering)["spec"]["template"]["spec"]
    return pod


def _ingress_backend(rendering: Rendering) -> dict[str, Any]:
    backend: dict[str, Any] = rendering.of_kind("Ingress")[0]["spec"]["rules"][0]["http"]["paths"][
        0
    ]["backend"]["service"]
    return backend


BREAKAGES: dict[str, Callable[[Rendering], object]] = {
    "readiness on /healthz": lambda r: _dev_container(r)["readinessProbe"]["httpGet"].update(
        path="/healthz"
    ),
    "liveness on another port": lambda r: _dev_container(r)["livenessProbe"]["httpGet"].update(
        port=9999
    ),
    "readiness port name unknown": lambda r: _dev_container(r)["readinessProbe"]["httpGet"].update(
        port="web"
    ),
    "no liveness probe": lambda r: _dev_container(r).pop("livenessProbe"),
    "PORT env differs": lambda r: [
        v.update(value="8080") for v in _dev_container(r)["env"] if v["name"] == "PORT"
    ],
    "runs as root": lambda r: _dev_pod(r)["securityContext"].update(runAsUser=0),
    "runAsNonRoot dropped": lambda r: _dev_pod(r)["securityContext"].pop("runAsNonRoot"),
    "writable root filesystem": lambda r: _dev_container(r)["securityContext"].update(
        readOnlyRootFilesystem=False
    ),
    "no resources": lambda r: _dev_container(r).pop("resources"),
    "init container without limits": lambda r: _dev_pod(r)["initContainers"][0].pop("resources"),
    "no migrations": lambda r: _dev_pod(r).pop("initContainers"),
    "serves another service": lambda r: _dev_container(r).update(
        command=["python", "-m", "services.remediation", "serve"]
    ),
    "prometheus port wrong": lambda r: _dev_deployment(r)["spec"]["template"]["metadata"][
        "annotations"
    ].update({"prometheus.io/port": "9090"}),
    "grace period too short": lambda r: _dev_pod(r).update(terminationGracePeriodSeconds=10),
    "fixed replicas": lambda r: _dev_deployment(r)["spec"].update(replicas=3),
    "ingress to missing service": lambda r: _ingress_backend(r).update(name="assessments"),
    "ingress to wrong port": lambda r: _ingress_backend(r).update(port={"number": 80}),
    "ingress path to the wrong owner": lambda r: _ingress_backend(r).update(
        name="remediation", port={"number": 8002}
    ),
    "service targets wrong port": lambda r: (r.named("Service", "assessment") or {})["spec"][
        "ports"
    ][0].update(targetPort=8080),
    "hpa renamed target": lambda r: r.of_kind("HorizontalPodAutoscaler")[0]["spec"][
        "scaleTargetRef"
    ].update(name="assesment"),
    "pdb removed": lambda r: r.manifests.remove(r.of_kind("PodDisruptionBudget")[0]),
    "secret missing": lambda r: r.manifests.remove(r.named("Secret", "assessment-db") or {}),
    "no default deny": lambda r: r.manifests.remove(
        r.named("NetworkPolicy", "default-deny-all") or {}
    ),
    "webhooks to any port": lambda r: (
        r.named("NetworkPolicy", "allow-notifications-webhooks") or {}
    )["spec"]["egress"][0].pop("ports"),
    "webhooks to private ranges": lambda r: (
        r.named("NetworkPolicy", "allow-notifications-webhooks") or {}
    )["spec"]["egress"][0]["to"][0]["ipBlock"].pop("except"),
    "postgres open to any pod": lambda r: (r.named("NetworkPolicy", "postgres") or {})["spec"][
        "ingress"
    ][0]["from"][0].update(podSelector={}),
    "nats unreachable": lambda r: r.manifests.remove(r.named("NetworkPolicy", "nats") or {}),
    "api open to the namespace": lambda r: (r.named("NetworkPolicy", "allow-api-ingress") or {})[
        "spec"
    ]["ingress"][0]["from"].append({"podSelector": {}}),
    "no migration job": lambda r: r.manifests.remove(r.of_kind("Job")[0]),
    "migration job of another image": lambda r: r.of_kind("Job")[0]["spec"]["template"]["spec"][
        "containers"
    ][0].update(image="other:1"),
    "migration job pods behind the Service": lambda r: r.of_kind("Job")[0]["spec"]["template"][
        "metadata"
    ]["labels"].update({"app.kubernetes.io/name": "assessment"}),
}


def _all_problems(rendering: Rendering) -> list[str]:
    return [
        *[p for d in rendering.of_kind("Deployment") for p in deployment_problems(d)],
        *service_problems(rendering),
        *ingress_problems(rendering),
        *scaling_problems(rendering),
        *reference_problems(rendering, external_secrets=set()),
        *network_problems(rendering),
        *migration_job_problems(rendering),
    ]


def test_the_dev_rendering_is_clean_before_breaking_it() -> None:
    assert _all_problems(rendered("overlays/dev")) == []


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_broken_manifest_is_reported(breakage: str) -> None:
    rendering = rendered("overlays/dev")
    BREAKAGES[breakage](rendering)
    assert _all_problems(rendering) != []


def test_a_kustomization_listing_a_missing_file_is_reported() -> None:
    directory = K8S / "base"
    spec = load_documents(directory / "kustomization.yaml")[0]
    spec["resources"].append("no-such-service")
    assert kustomization_problems(directory, spec) != []
    spec["resources"][-1] = "network-policy.yaml"
    assert kustomization_problems(directory, spec) != []


def test_a_broken_json_patch_is_reported() -> None:
    deployment = _dev_deployment(rendered("overlays/dev"))
    with pytest.raises(KeyError):
        apply_json_patch(deployment, [{"op": "replace", "path": "/spec/replicas", "value": 2}])


@pytest.mark.parametrize(
    ("field_name", "value"),
    [
        ("ports", ["18001:8001"]),
        ("healthcheck", {"test": ["CMD", "true"]}),
        ("depends_on", {"postgres": {"condition": "service_started"}}),
        ("command", ["python", "-m", "services.assessment", "migrate"]),
    ],
)
def test_a_broken_compose_service_is_reported(field_name: str, value: Any) -> None:
    compose = load_documents(COMPOSE)[0]
    compose["services"]["assessment"][field_name] = value
    assert compose_service_problems(compose, "assessment") != []


@pytest.mark.parametrize(
    ("original", "replacement"),
    [
        ("USER 10001:10001", "USER root"),
        ("--no-group local", ""),
        ("uv==${UV_VERSION}", "uv"),
        ("python:3.11-slim-bookworm", "python:3.11"),
    ],
)
def test_a_broken_dockerfile_is_reported(original: str, replacement: str) -> None:
    raw = DOCKERFILE.read_text(encoding="utf-8")
    assert original in raw
    assert dockerfile_problems(resolve_dockerfile(raw.replace(original, replacement))) != []


# ---------------------------------------------------------------------------------------------
# Maintained validators: Compose against compose-spec, Kubernetes against its OpenAPI schemas


def test_compose_file_is_valid_under_the_compose_spec_schema() -> None:
    assert compose_schema_problems(COMPOSE) == []


@pytest.mark.parametrize(
    "breakage",
    [
        ("assessment", "depends_on", {"postgres": {"condition": "service_ready"}}),
        ("assessment", "restart", 3),
        ("nats", "healthcheck", {"test": ["CMD", "true"], "intervall": "5s"}),
    ],
    ids=lambda b: f"{b[0]}.{b[1]}",
)
def test_the_compose_schema_rejects_a_broken_file(
    breakage: tuple[str, str, Any], tmp_path: Path
) -> None:
    compose = load_documents(COMPOSE)[0]
    service, key, value = breakage
    compose["services"][service][key] = value
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(compose), encoding="utf-8")
    assert compose_schema_problems(broken) != []


@pytest.mark.parametrize("name", RENDERINGS)
def test_rendered_manifests_are_valid_kubernetes_objects(name: str) -> None:
    assert schema_problems(rendered(name).manifests) == []


@pytest.mark.parametrize("name", RENDERINGS)
def test_kustomize_renders_valid_kubernetes_objects(name: str) -> None:
    manifests = kubectl_kustomize(K8S / name)
    assert manifests
    assert schema_problems(manifests) == []


@pytest.mark.parametrize("name", RENDERINGS)
def test_the_repo_renderer_agrees_with_kustomize(name: str) -> None:
    """The small renderer the semantic checks use produces the objects kustomize produces."""
    real = {
        (m["kind"], _without_hash(m["metadata"]["name"])) for m in kubectl_kustomize(K8S / name)
    }
    ours = {(m["kind"], m["metadata"]["name"]) for m in rendered(name).manifests}
    assert ours == real


@pytest.mark.parametrize(
    "breakage",
    [
        "unknown field",
        "probe port of the wrong type",
        "container without a name",
        "network policy with an unknown policy type field",
    ],
)
def test_the_kubernetes_schema_rejects_a_broken_object(breakage: str) -> None:
    rendering = rendered("overlays/dev")
    container = _dev_container(rendering)
    if breakage == "unknown field":
        container["readinessProbes"] = container["readinessProbe"]
    elif breakage == "probe port of the wrong type":
        container["livenessProbe"]["httpGet"]["port"] = {"name": "http"}
    elif breakage == "container without a name":
        container.pop("name")
    else:
        policy = rendering.named("NetworkPolicy", "default-deny-all") or {}
        policy["spec"]["policyType"] = ["Ingress"]
    assert schema_problems(rendering.manifests) != []


def test_only_known_custom_resources_skip_the_schema() -> None:
    kinds = {(m["apiVersion"], m["kind"]) for n in RENDERINGS for m in rendered(n).manifests}
    assert kinds & CUSTOM_RESOURCES == CUSTOM_RESOURCES
    typo = {"apiVersion": "apps/v1", "kind": "Deploymnet", "metadata": {"name": "x"}}
    assert schema_problems([typo]) != []


# ---------------------------------------------------------------------------------------------
# Kubernetes: network policies, migration Jobs, the NATS cluster, CloudNativePG


@pytest.mark.parametrize("name", ["overlays/dev", "overlays/production"])
def test_network_policies_allow_only_the_flows_that_exist(name: str) -> None:
    assert network_problems(rendered(name)) == []


@pytest.mark.parametrize("name", RENDERINGS)
def test_each_service_has_a_migration_job(name: str) -> None:
    rendering = rendered(name)
    assert len(rendering.of_kind("Job")) == len(DEPLOYED_NOW)
    assert migration_job_problems(rendering) == []


def test_production_runs_a_three_node_jetstream_cluster() -> None:
    production = rendered("overlays/production")
    assert nats_cluster_problems(production) == []
    config = production.named("ConfigMap", "betterwork-config") or {}
    # streams the services create are replicated on every server of the cluster
    assert config["data"]["BW_STREAM_REPLICAS"] == "3"
    assert config["data"]["NATS_URL"] == "nats://nats:4222"
    assert production.named("Service", "nats") is not None


@pytest.mark.parametrize(
    "breakage",
    [
        lambda r: (r.named("StatefulSet", "nats") or {})["spec"].update(replicas=1),
        lambda r: (r.named("ConfigMap", "nats-config") or {})["data"].update(
            {"nats.conf": _nats_config(r).replace("nats-2.nats-headless", "nats-3.nats-headless")}
        ),
        lambda r: (r.named("StatefulSet", "nats") or {})["spec"].pop("volumeClaimTemplates"),
        lambda r: (r.named("StatefulSet", "nats") or {})["spec"]["template"]["spec"]["containers"][
            0
        ]["lifecycle"].pop("preStop"),
        lambda r: (r.named("StatefulSet", "nats") or {})["spec"]["template"]["spec"]["containers"][
            0
        ]["readinessProbe"]["httpGet"].update(path="/healthz"),
        lambda r: (r.named("StatefulSet", "nats") or {})["spec"]["template"]["spec"].update(
            terminationGracePeriodSeconds=30
        ),
        lambda r: r.manifests.remove(r.named("PodDisruptionBudget", "nats") or {}),
    ],
    ids=[
        "one server",
        "wrong route",
        "memory store",
        "no lame duck",
        "readiness without JetStream",
        "grace too short",
        "no budget",
    ],
)
def test_a_broken_nats_cluster_is_reported(breakage: Callable[[Rendering], object]) -> None:
    production = rendered("overlays/production")
    breakage(production)
    assert nats_cluster_problems(production) != []


def test_production_postgresql_is_a_cloudnativepg_cluster() -> None:
    production = rendered("overlays/production")
    cluster = production.named("Cluster", "betterwork-pg")
    assert cluster is not None
    spec = cluster["spec"]
    assert spec["instances"] >= 3 and spec["affinity"]["enablePodAntiAffinity"] is True
    assert spec["bootstrap"]["initdb"]["database"] == "betterwork"
    assert spec["backup"]["barmanObjectStore"]["destinationPath"]
    backups = production.of_kind("ScheduledBackup")
    assert [b["spec"]["cluster"]["name"] for b in backups] == ["betterwork-pg"]
    # one login role per service; operators create its password secret (documented)
    roles = {role["name"]: role["passwordSecret"]["name"] for role in spec["managed"]["roles"]}
    assert set(roles) == {c.module for c in CONTRACT.values()}
    documentation = DEPLOY_DOC.read_text(encoding="utf-8")
    for secret in roles.values():
        assert secret in documentation, secret
    # the services' DATABASE_URL examples point at the cluster's read-write service
    overlay = (K8S / "overlays" / "production" / "kustomization.yaml").read_text(encoding="utf-8")
    assert "@betterwork-pg-rw:5432/betterwork" in overlay


# ---------------------------------------------------------------------------------------------
# Compose: where development settings belong, the observability profile


def _backend_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if "build" in s}


def test_compose_development_settings_only_on_the_backend() -> None:
    compose = load_documents(COMPOSE)[0]
    backend = _backend_services(compose)
    assert set(backend) == {n for s in DEPLOYED_NOW for n in (s, f"{s}-migrate")}
    for name, service in compose["services"].items():
        environment = _compose_env(service)
        if name in backend:
            assert environment.get("BW_ENVIRONMENT") == "development", name
            assert service.get("read_only") is True, name
        else:
            assert "BW_ENVIRONMENT" not in environment, name
    notifications = _compose_env(compose["services"]["notifications"])
    for variable in ("BW_WEBHOOK_ALLOW", "BW_WEBHOOK_ALLOW_HTTP", "BW_WEBHOOK_SECRET_KEYS"):
        assert variable in notifications
        assert variable in DEPLOY_DOC.read_text(encoding="utf-8"), variable


def test_compose_observability_profile() -> None:
    compose = load_documents(COMPOSE)[0]
    services = compose["services"]
    profiled = {n for n, s in services.items() if "observability" in s.get("profiles", [])}
    assert profiled == {"otel-collector", "jaeger", "prometheus", "grafana"}
    # nothing outside the profile needs it: `docker compose up` alone must still work
    for name, service in services.items():
        if name not in profiled:
            assert not set(service.get("depends_on", {})) & profiled, name
    # every bind mount exists in the repository
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source}"


def test_prometheus_in_compose_scrapes_every_service_and_loads_the_alerts() -> None:
    compose = load_documents(COMPOSE)[0]
    mounts = dict(
        str(v).split(":")[:2]
        for v in compose["services"]["prometheus"]["volumes"]
        if str(v).startswith("./")
    )
    config_path = mounts["./deploy/observability/prometheus/prometheus.yml"]
    assert config_path in " ".join(compose["services"]["prometheus"]["command"])
    config = load_documents(PROMETHEUS_CONFIG)[0]
    for rule_file in config["rule_files"]:
        assert rule_file in mounts.values(), rule_file
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    assert targets >= {f"{name}:{CONTRACT[name].port}" for name in DEPLOYED_NOW}


def test_grafana_in_compose_is_provisioned_with_the_dashboard() -> None:
    compose = load_documents(COMPOSE)[0]
    mounts = {
        target: source
        for source, target, *_ in (
            str(v).split(":") for v in compose["services"]["grafana"]["volumes"]
        )
    }
    assert mounts["/etc/grafana/provisioning/datasources"].endswith("provisioning/datasources")
    provider_dir = ROOT / mounts["/etc/grafana/provisioning/dashboards"]
    providers = load_documents(next(provider_dir.glob("*.yml")))[0]["providers"]
    dashboards = ROOT / mounts[providers[0]["options"]["path"]]
    assert list(dashboards.glob("*.json"))
    datasource_dir = ROOT / mounts["/etc/grafana/provisioning/datasources"]
    datasource = load_documents(next(datasource_dir.glob("*.yml")))[0]["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"


def test_the_otel_collector_forwards_traces_to_jaeger() -> None:
    compose = load_documents(COMPOSE)[0]
    collector = load_documents(OTEL_COLLECTOR_CONFIG)[0]
    pipeline = collector["service"]["pipelines"]["traces"]
    for section in ("receivers", "processors", "exporters"):
        assert set(pipeline[section]) <= set(collector[section]), section
    assert "http" in collector["receivers"]["otlp"]["protocols"]
    endpoints = [collector["exporters"][e]["endpoint"] for e in pipeline["exporters"]]
    assert all(e.split(":")[0] in compose["services"] for e in endpoints), endpoints
    mounted = compose["services"]["otel-collector"]["volumes"][0]
    assert mounted.startswith("./deploy/compose/otel-collector.yaml:")
