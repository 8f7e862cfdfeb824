"""The rendered configuration is what the real agent accepts: the container environment of
every overlay passes the agent's own start-up validation, and every secret file it names is
mounted from a Secret that an ExternalSecret produces with that key."""

from __future__ import annotations

import re

import pytest
from deploy_helpers import OVERLAYS, by_kind, pod_spec


def container_env(resources: list[dict], deployment: dict) -> dict[str, str]:
    """The agent container's environment as the kubelet builds it (envFrom, then env with
    $(VAR) expansion); Secret values are stand-ins."""
    (container,) = pod_spec(deployment)["containers"]
    configmaps = by_kind(resources, "ConfigMap")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(configmaps[source["configMapRef"]["name"]]["data"])
    for var in container.get("env", []):
        if "valueFrom" in var:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = f"secret-{ref['name']}-{ref['key']}"
        else:
            env[var["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)),
                                      var["value"])
    return env


def secret_file_source(resources: list[dict], deployment: dict, path: str) -> tuple[str, str]:
    """(Secret name, key) that the file `path` inside the agent container comes from."""
    spec = pod_spec(deployment)
    mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
    directory, key = path.rsplit("/", 1)
    assert directory in mounts, f"{path}: nothing is mounted at {directory}"
    volume = next(v for v in spec["volumes"] if v["name"] == mounts[directory])
    assert "secret" in volume, f"{directory} is not a Secret volume"
    return volume["secret"]["secretName"], key


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_agent_accepts_the_rendered_configuration(overlay, render, tmp_path):
    from agent.config import load_settings  # the real app's start-up validation

    resources = render(f"overlays/{overlay}")
    external = {e["spec"]["target"]["name"]: {d["secretKey"] for d in e["spec"]["data"]}
                for e in by_kind(resources, "ExternalSecret").values()}
    for name, deployment in by_kind(resources, "Deployment").items():
        env = container_env(resources, deployment)
        assert env["REDIS_URL"] == "redis://:secret-redis-auth-password@redis:6379/0"
        for var in ("AGENT_API_KEYS_FILE", "AGENT_OPENAI_API_KEY_FILE"):
            secret, key = secret_file_source(resources, deployment, env[var])
            assert key in external.get(secret, set()), f"{var}: no ExternalSecret {secret}/{key}"
            local = tmp_path / name / var
            local.parent.mkdir(exist_ok=True)
            local.write_text("k3y-0ne-long-random,k3y-tw0-long-random\n" if "KEYS" in var
                             else "sk-test-0123456789\n")
            env[var] = str(local)
        settings = load_settings(env)
        assert settings.port == 8000
        assert settings.backend == env["AGENT_BACKEND"] == "openai"
        assert len(settings.api_keys) == 2
        assert settings.log_level == ("DEBUG" if overlay == "dev" else "INFO")


def test_container_env_expands_like_the_kubelet():
    deployment = {"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{
        "env": [{"name": "A", "value": "x"}, {"name": "B", "value": "$(A)-$(MISSING)"}]}]}}}}
    assert container_env([], deployment) == {"A": "x", "B": "x-$(MISSING)"}
