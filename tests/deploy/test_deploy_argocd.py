"""argocd/: one Application per deployable overlay, each source path renders, each
destination and every rendered kind is allowed by the AppProject, sync policy per env."""

from __future__ import annotations

import fnmatch

import pytest
from deploy_helpers import ENV_NAMESPACE, by_kind, one

REPO_URL = "https://github.com/acme/agent-gitops.git"
EXPECTED_PATHS = {"agent-dev": "overlays/dev", "agent-staging": "overlays/staging-canary",
                  "agent-prod": "overlays/prod-canary"}
# Overlays an env can switch to (delivery strategy: docs/delivery.md): each must render and be
# allowed by the AppProject as it is, so a switch is the Application's path and nothing else.
ALTERNATIVES = {"agent-staging": "overlays/staging-bluegreen",
                "agent-prod": "overlays/prod-bluegreen"}


def test_the_deployed_overlay_of_each_env_is_the_one_in_the_repo_config(applications,
                                                                        repo_root):
    """.kustodian.yaml environments.deploy names the one overlay per env that Argo CD syncs
    (what `canary auto` and the scheduled workflow act on)."""
    from kustodian.release.config import load_config

    config = load_config(repo_root)
    assert {f"agent-{env}": path for env, path in config.deploy.items()} == \
        {name: app["spec"]["source"]["path"] for name, app in applications.items()}


@pytest.fixture(scope="module")
def argocd(render):
    return render("argocd")


@pytest.fixture(scope="module")
def project(argocd):
    return one(argocd, "AppProject", "agent")


@pytest.fixture(scope="module")
def applications(argocd):
    return by_kind(argocd, "Application")


def test_one_application_per_deployable_overlay(applications):
    assert {name: app["spec"]["source"]["path"] for name, app in applications.items()} \
        == EXPECTED_PATHS
    for app in applications.values():
        assert app["metadata"]["namespace"] == "argocd"
        assert app["spec"]["project"] == "agent"
        assert app["spec"]["source"]["repoURL"] == REPO_URL
        assert app["spec"]["source"]["targetRevision"] == "main"
        assert "resources-finalizer.argocd.argoproj.io" in app["metadata"]["finalizers"]


def test_no_namespace_is_owned_twice(applications):
    namespaces = [app["spec"]["destination"]["namespace"] for app in applications.values()]
    assert sorted(namespaces) == sorted(ENV_NAMESPACE.values())


@pytest.mark.parametrize(("name", "path"), sorted([*EXPECTED_PATHS.items(),
                                                    *ALTERNATIVES.items()]))
def test_source_path_exists_renders_and_is_allowed(name, path, applications, project,
                                                   repo_root, render):
    app = applications[name]
    source = {**app["spec"]["source"], "path": path}
    destination = app["spec"]["destination"]
    path = repo_root / source["path"]
    assert (path / "kustomization.yaml").is_file(), f"{source['path']} is not a kustomization"
    resources = render(source["path"])
    assert resources
    spec = project["spec"]
    assert any(fnmatch.fnmatch(source["repoURL"], pattern) for pattern in spec["sourceRepos"])
    assert any(fnmatch.fnmatch(destination["server"], d["server"])
               and fnmatch.fnmatch(destination["namespace"], d["namespace"])
               for d in spec["destinations"]), f"{name}: destination not allowed"
    cluster = {(k["group"], k["kind"]) for k in spec["clusterResourceWhitelist"]}
    namespaced = {(k["group"], k["kind"]) for k in spec["namespaceResourceWhitelist"]}
    for r in resources:
        group = r["apiVersion"].rsplit("/", 1)[0] if "/" in r["apiVersion"] else ""
        if "namespace" in r["metadata"]:
            assert r["metadata"]["namespace"] == destination["namespace"]
            assert (group, r["kind"]) in namespaced, f"{r['kind']} is not whitelisted"
        else:
            assert (group, r["kind"]) in cluster, f"cluster-scoped {r['kind']} not allowed"


def test_project_is_locked_down(project):
    spec = project["spec"]
    assert spec["sourceRepos"] == [REPO_URL]
    assert spec["clusterResourceWhitelist"] == [{"group": "", "kind": "Namespace"}]
    assert sorted(d["namespace"] for d in spec["destinations"]) == sorted(ENV_NAMESPACE.values())
    assert all("*" not in str(d) for d in spec["destinations"])
    assert spec["orphanedResources"]["warn"] is True


@pytest.mark.parametrize(("name", "automated"),
                         [("agent-dev", True), ("agent-staging", True), ("agent-prod", False)])
def test_sync_policy_per_env(name, automated, applications):
    policy = applications[name]["spec"]["syncPolicy"]
    if automated:
        assert policy["automated"] == {"prune": True, "selfHeal": True}
    else:
        assert "automated" not in policy, "prod is synced by a person"
    options = set(policy["syncOptions"])
    assert {"ServerSideApply=true", "PruneLast=true", "RespectIgnoreDifferences=true"} <= options
    backoff = policy["retry"]["backoff"]
    assert policy["retry"]["limit"] > 0 and backoff["factor"] > 1 and backoff["maxDuration"]


@pytest.mark.parametrize("name", ["agent-staging", "agent-prod"])
def test_hpa_managed_replicas_are_ignored(name, applications):
    stable, colour = applications[name]["spec"]["ignoreDifferences"]
    assert stable == {"group": "apps", "kind": "Deployment", "name": "agent",
                      "jsonPointers": ["/spec/replicas"]}
    (expression,) = colour["jqPathExpressions"]
    assert colour == {"group": "apps", "kind": "Deployment", "jqPathExpressions": [expression]}
    assert "kustodian.io/active-color" in expression and expression.endswith(".spec.replicas")


def test_dev_has_no_hpa_so_nothing_is_ignored(applications):
    assert "ignoreDifferences" not in applications["agent-dev"]["spec"]


@pytest.fixture(scope="module")
def bootstrap(render):
    return render("argocd/bootstrap")


def test_app_of_apps_root_reconciles_argocd_within_its_project(bootstrap, argocd):
    root = one(bootstrap, "Application", "agent-root")
    project = one(bootstrap, "AppProject", "agent-bootstrap")["spec"]
    source, destination = root["spec"]["source"], root["spec"]["destination"]
    assert (source["repoURL"], source["path"]) == (REPO_URL, "argocd")
    assert root["spec"]["project"] == "agent-bootstrap"
    assert root["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert project["sourceRepos"] == [REPO_URL]
    assert [d["namespace"] for d in project["destinations"]] == [destination["namespace"]]
    assert project["clusterResourceWhitelist"] == []
    allowed = {(k["group"], k["kind"]) for k in project["namespaceResourceWhitelist"]}
    for resource in argocd:  # everything the root Application would apply
        assert (resource["apiVersion"].split("/")[0], resource["kind"]) in allowed
        assert resource["metadata"]["namespace"] == destination["namespace"]


def test_server_side_apply_apps_also_diff_on_the_server(applications):
    # Without a server-side diff the CRD defaults the API server fills into ExternalSecrets
    # (conversionStrategy, decodingStrategy, metadataPolicy) show as drift: OutOfSync forever.
    for name, app in applications.items():
        assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"], name
        options = app["metadata"]["annotations"].get("argocd.argoproj.io/compare-options", "")
        assert "ServerSideDiff=true" in [o.strip() for o in options.split(",")], name
