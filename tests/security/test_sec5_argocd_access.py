"""5. Argo CD objects that widen access are findings.

An AppProject is the fence around what its Applications may deploy: from which
repositories, to which clusters and namespaces, which kinds. Patterns are matched the way
Argo CD matches them (gobwas globs for sources and destinations - `*`, `**`, `?`, classes,
`{a,b}`, a leading `!` denies - and Go's filepath.Match for the resource whitelists), so
`**`, `?*` or `https://kubernetes.default.sv?` are seen for what they allow."""

from __future__ import annotations

import pytest
from kustodian import argoglob
from security_helpers import check_docs

OWN_REPO = "https://github.com/acme/agent-gitops.git"


def project(**spec) -> dict:
    base = {"sourceRepos": [OWN_REPO],
            "destinations": [{"server": "https://kubernetes.default.svc",
                              "namespace": "agent-dev"}],
            "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
            "namespaceResourceWhitelist": [{"group": "apps", "kind": "Deployment"}]}
    base.update(spec)
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
            "metadata": {"name": "p", "namespace": "argocd"}, "spec": base}


def rules(tmp_path, doc) -> list[str]:
    return sorted(f.rule for f in check_docs(tmp_path, [doc], "prod")
                  if f.category == "cluster-security")


def test_widened_appproject_is_caught_on_a_clone(scratch):
    path = scratch.root / "argocd/project.yaml"
    text = path.read_text()
    text = text.replace("    - https://github.com/acme/agent-gitops.git\n", "    - '**'\n", 1)
    text = text.replace("      namespace: agent-prod\n", "      namespace: '?*'\n", 1)
    text = text.replace("    - group: \"\"\n      kind: Namespace\n",
                        "    - group: '*'\n      kind: '*'\n", 1)
    text = text.replace("    - server: https://kubernetes.default.svc\n      namespace: agent-dev",
                        "    - server: https://kubernetes.default.sv?\n      namespace: agent-dev")
    path.write_text(text)
    scratch.commit("open the project up")
    wanted = {"argocd-project-source-repos", "argocd-project-destinations",
              "argocd-project-resource-whitelist"}
    for run in (scratch.full(), scratch.pr()):
        assert run.returncode == 1, run.stderr
        assert wanted <= run.rules(), run.rules()
        dest = {f["message"] for f in run.of("argocd-project-destinations")}
        assert any("sv?" in m for m in dest) and any("'?*'" in m for m in dest), dest
        assert all(f["file"] == "argocd/project.yaml" for r in wanted for f in run.of(r))


@pytest.mark.parametrize(("repos", "caught"), [
    ([OWN_REPO], False),
    (["https://github.com/acme/*"], False),
    (["*"], True), (["**"], True), (["https://github.com/**"], True),
    (["https://github.com/*/*"], True), (["https://github.com/*/agent-gitops"], True),
    (["https://git?ub.com/acme/agent-gitops"], True), (["https://*.com/acme/x"], True),
    (["git@github.com:acme/*"], False), (["git@github.com:*/*"], True),
    (["https://github.com/{acme,*}/*"], True),
    (["**", "!https://kustodian-probe.invalid/**", "!git@kustodian-probe.invalid:**",
      "!https://github.com/kustodian-probe/**"], True),
    (["!https://github.com/evil/*", OWN_REPO], False),
    ([r"https://github.com/acme/\*"], False),
])
def test_source_repos(tmp_path, repos, caught):
    assert (rules(tmp_path, project(sourceRepos=repos)) != []) is caught


@pytest.mark.parametrize(("dest", "caught"), [
    ({"server": "https://kubernetes.default.svc", "namespace": "agent-prod"}, False),
    ({"server": "https://kubernetes.default.svc", "namespace": "agent-*"}, False),
    ({"server": "https://kubernetes.default.svc", "namespace": "*"}, True),
    ({"server": "https://kubernetes.default.svc", "namespace": "?*"}, True),
    ({"server": "https://kubernetes.default.svc", "namespace": "**"}, True),
    ({"server": "https://kubernetes.default.svc", "namespace": "kube-*"}, True),
    ({"server": "https://kubernetes.default.svc", "namespace": "[a-z]rgocd"}, True),
    ({"server": "https://kubernetes.default.sv?", "namespace": "agent-dev"}, True),
    ({"server": "*", "namespace": "agent-dev"}, True),
    ({"name": "in-cluster*", "namespace": "agent-dev"}, True),
    ({"name": "in-cluster", "namespace": "agent-dev"}, False),
])
def test_destinations(tmp_path, dest, caught):
    assert (rules(tmp_path, project(destinations=[dest])) != []) is caught


def test_a_deny_entry_narrows_a_namespace_pattern(tmp_path):
    wide = [{"server": "https://kubernetes.default.svc", "namespace": "*-system"}]
    assert rules(tmp_path, project(destinations=wide)) == ["argocd-project-destinations"]
    narrowed = [*wide, {"server": "https://kubernetes.default.svc", "namespace": "!kube-system"}]
    assert rules(tmp_path, project(destinations=narrowed)) == []


@pytest.mark.parametrize(("key", "entry", "caught"), [
    ("clusterResourceWhitelist", {"group": "*", "kind": "*"}, True),
    ("clusterResourceWhitelist", {"group": "rbac.authorization.k8s.io", "kind": "*"}, True),
    ("clusterResourceWhitelist", {"group": "*", "kind": "Cluster*"}, True),
    ("clusterResourceWhitelist", {"group": "", "kind": "Namespace"}, False),
    ("clusterResourceWhitelist", {"group": "", "kind": "Name?pace"}, False),
    ("namespaceResourceWhitelist", {"group": "*", "kind": "*"}, True),
    ("namespaceResourceWhitelist", {"group": "rbac.authorization.k8s.io", "kind": "Role*"},
     True),
    ("namespaceResourceWhitelist", {"group": "apps", "kind": "*"}, False),
    ("namespaceResourceWhitelist", {"group": "apps", "kind": "Deployment"}, False),
])
def test_resource_whitelists(tmp_path, key, entry, caught):
    assert (rules(tmp_path, project(**{key: [entry]})) != []) is caught


@pytest.mark.parametrize(("pattern", "text", "seps", "matched"), [
    ("*", "a/b", "", True), ("*", "a/b", "/", False), ("**", "a/b", "/", True),
    ("a?c", "abc", "", True), ("a?c", "a/c", "/", False), ("[!a]x", "bx", "", True),
    ("[!a]x", "ax", "", False), ("[a-c]x", "bx", "", True), ("{ab,cd}e", "cde", "", True),
    ("{ab,cd}e", "xe", "", False), (r"\*", "*", "", True), (r"\*", "x", "", False),
    ("[", "[", "", False),    # does not compile: Argo CD matches nothing
])
def test_gobwas_glob_semantics(pattern, text, seps, matched):
    assert argoglob.glob_match(pattern, text, seps) is matched


def test_normalized_like_argo_cd():
    assert argoglob.normalize_git_url("  HTTPS://GitHub.com/Acme/X.git ") == \
        "https://github.com/acme/x"
    assert argoglob.normalize_git_url("git@github.com:acme/x.git") == "git@github.com/acme/x"
    spec = {"sourceRepos": ["git@github.com:acme/*"]}
    assert argoglob.source_permitted(spec, "git@GitHub.com:acme/agent.git")
    assert not argoglob.source_permitted(spec, "git@github.com:evil/agent.git")


LIVE_APP = """
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: agent-live}
spec:
  project: agent
  SOURCE
  destination: {server: https://kubernetes.default.svc, namespace: agent-live}
  syncPolicy:
    automated: {prune: true, selfHeal: true}
"""


def _add_app(repo, name: str, source: str) -> None:
    repo.write(f"argocd/applications/{name}.yaml", LIVE_APP.replace("SOURCE", source))
    kfile = repo.root / "argocd/kustomization.yaml"
    kfile.write_text(kfile.read_text().replace("resources:\n",
                                               f"resources:\n  - applications/{name}.yaml\n"))


def test_prod_auto_sync_through_a_symlink_is_caught_on_a_clone(scratch):
    (scratch.root / "overlays/live").symlink_to("prod")
    _add_app(scratch, "live", "source: {repoURL: https://github.com/acme/agent-gitops.git, "
                              "targetRevision: main, path: overlays/live}")
    scratch.commit("live = prod, auto-synced")
    for run in (scratch.full("argocd"), scratch.pr()):
        hits = run.of("argocd-prod-auto-sync")
        assert hits and "symlink to overlays/prod" in hits[0]["message"], run.stderr
        assert hits[0]["file"] == "argocd/applications/live.yaml"
        assert run.returncode in (1, 2)   # 2: the new target has no env of its own either


def test_prod_auto_sync_through_source_hydrator_is_caught(scratch):
    _add_app(scratch, "hydrated", "sourceHydrator:\n    drySource: {repoURL: "
                                  "https://github.com/acme/agent-gitops.git, targetRevision: "
                                  "main, path: overlays/prod}\n    syncSource: "
                                  "{targetBranch: env/live, path: live}")
    scratch.commit("hydrated prod, auto-synced")
    run = scratch.full("argocd")
    hits = run.of("argocd-prod-auto-sync")
    assert hits and "sourceHydrator.drySource" in hits[0]["message"], run.stderr
