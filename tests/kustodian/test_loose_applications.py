"""Argo CD Applications kept in loose manifest files (argocd-example-apps style: an
Application at the repository root, children in a plain dir an app of apps syncs, no
argocd/ kustomization). A pull request that edits only such a file, or only a dir such an
Application deploys, is judged in PR mode (`--base-ref main --new-only`) exactly as full
checks judge it: the new findings are those a full check of HEAD has beyond a full check of
the base, and the verdicts agree."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from support.cli import commit_all, git, init_repo, kustodian, write_tree

URL = "https://github.com/acme/example-apps.git"
IMAGE = "ghcr.io/acme/guestbook:0.2"        # a tag, no digest: a finding at the base already


WORKLOAD = """\
apiVersion: apps/v1
kind: {kind}
metadata:
  name: {name}
spec:
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: {name}
          image: {image}
"""
PRIVILEGED_POD = f"""\
apiVersion: v1
kind: Pod
metadata:
  name: debug
spec:
  containers:
    - name: debug
      image: {IMAGE}
      securityContext: {{privileged: true}}
"""


def workload(kind: str, name: str) -> str:
    return WORKLOAD.format(kind=kind, name=name, image=IMAGE)


def application(name: str, path: str, namespace: str, extra: str = "") -> str:
    return (f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n"
            f"  namespace: argocd\nspec:\n  project: default\n  source:\n"
            f"    repoURL: {URL}\n    path: {path}\n{extra}  destination:\n"
            f"    server: https://kubernetes.default.svc\n    namespace: {namespace}\n")


DAEMONSET_PATCH = """\
    kustomize:
      patches:
        - target: {kind: DaemonSet}
          patch: |-
            - op: add
              path: /spec/template/spec/containers/0/securityContext
              value: {privileged: true}
"""
DEPLOYMENT_PATCH = DAEMONSET_PATCH.replace("kind: DaemonSet", "kind: Deployment")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """An argocd-example-apps-like repository on main, checked out on branch `pr`."""
    root = write_tree(tmp_path / "example-apps", {
        ".kustodian.yaml": f"repoURLs: [{URL}]\n",
        # the app of apps, loose at the root: syncs the plain dir apps/
        "root-app.yaml": application("apps", "apps", "argocd").replace(
            "  namespace: argocd\nspec", "  namespace: argocd\n  labels: "
            "{kustodian.io/env: platform}\nspec", 1),
        "apps/guestbook.yaml": application("guestbook", "guestbook", "guestbook-dev"),
        # a loose Application at the root, with Application-level kustomize options that
        # match nothing yet (no DaemonSet in its source)
        "kustomize-app.yaml": application("kustomize-guestbook", "kustomize-guestbook",
                                          "kustomize-guestbook-prod", DAEMONSET_PATCH),
        "guestbook/deployment.yaml": workload("Deployment", "guestbook-ui"),
        "kustomize-guestbook/kustomization.yaml": "resources:\n- deployment.yaml\n",
        "kustomize-guestbook/deployment.yaml": workload("Deployment", "kustomize-ui"),
        # inside a kustomization tree, read by nothing: no target of its own
        "kustomize-guestbook/debug/pod.yaml": PRIVILEGED_POD,
    })
    init_repo(root)
    git(root, "checkout", "-q", "-b", "pr")
    return root


def findings(repo: Path, *args: str) -> tuple[int, Counter, list[dict], str]:
    run = kustodian("check", "--no-schema", "--no-conftest", "--format", "json", *args,
                    cwd=repo)
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode in (0, 1), run.stderr
    found = run.findings
    pr_mode = "--base-ref" in args
    keys = Counter((f["rule"], f["env"], f["kind"], f["namespace"], f["name"], f["container"],
                    f["file"], f["field_path"] or f["message"])
                   for f in found if not pr_mode or f["status"] == "new")
    return run.returncode, keys, found, run.stderr


def assert_judged_as_full(repo: Path, application: str) -> None:
    """Full check of HEAD fails with the privileged container on `application`'s target;
    PR mode's new findings are exactly full(HEAD) - full(base), and it fails too."""
    code, head, found, err = findings(repo)
    assert code == 1, err
    assert any(f["rule"] == "no-privileged" and f.get("application") == application
               for f in found), [(f["rule"], f.get("application")) for f in found]
    git(repo, "checkout", "-q", "main")
    _, base, _, _ = findings(repo)
    git(repo, "checkout", "-q", "pr")
    code, new, _, err = findings(repo, "--base-ref", "main", "--new-only")
    assert new == head - base, (new, head - base, err)
    assert code == 1


def test_pr_edits_only_a_loose_application_at_the_root(repo):
    """Application-level patches added to a loose Application file."""
    path = repo / "kustomize-app.yaml"
    path.write_text(path.read_text().replace(DAEMONSET_PATCH, DEPLOYMENT_PATCH))
    commit_all(repo, "patch the Deployment from the Application")
    assert_judged_as_full(repo, "kustomize-guestbook")


def test_pr_edits_only_a_child_application_in_a_plain_dir(repo):
    """The child Application an app of apps syncs from a plain dir now points at a dir no
    target reads (inside a kustomization tree)."""
    path = repo / "apps/guestbook.yaml"
    path.write_text(path.read_text().replace("path: guestbook\n",
                                             "path: kustomize-guestbook/debug\n"))
    commit_all(repo, "guestbook: new path")
    assert_judged_as_full(repo, "guestbook")


def test_pr_edits_only_what_a_loose_application_deploys(repo):
    """The Application's patch, harmless at the base, now matches a DaemonSet the PR adds to
    its source dir; the dir's own render is harmless, the Application's is not."""
    write_tree(repo, {"kustomize-guestbook/daemonset.yaml": workload("DaemonSet", "agent")})
    kfile = repo / "kustomize-guestbook/kustomization.yaml"
    kfile.write_text(kfile.read_text() + "- daemonset.yaml\n")
    commit_all(repo, "a DaemonSet")
    assert_judged_as_full(repo, "kustomize-guestbook")


def test_pr_adds_a_child_application_to_the_plain_dir(repo):
    write_tree(repo, {"apps/debug.yaml": application("debug", "kustomize-guestbook/debug",
                                                     "debug-prod")})
    commit_all(repo, "a new child")
    assert_judged_as_full(repo, "debug")


def test_an_escaped_apiversion_does_not_hide_a_loose_application(repo):
    """Spelled with a YAML escape, the Application is still one (Argo CD reads it); PR mode
    must not lose it when a PR edits only what it deploys."""
    git(repo, "checkout", "-q", "main")
    path = repo / "kustomize-app.yaml"
    path.write_text(path.read_text().replace("apiVersion: argoproj.io/v1alpha1",
                                             'apiVersion: "argoproj\\x2eio/v1alpha1"'))
    commit_all(repo, "an escaped apiVersion")
    git(repo, "checkout", "-q", "-B", "pr")
    test_pr_edits_only_what_a_loose_application_deploys(repo)


@pytest.mark.parametrize("attributes", ["kustomize-app.yaml binary\n", "*.yaml -diff\n"])
def test_gitattributes_added_by_the_pr_do_not_hide_a_loose_application(repo, attributes):
    """`git grep -I` skips a file git takes for binary, and a .gitattributes `binary` or
    `-diff` makes any text file one: a PR marking the loose Application so must not keep PR
    mode from following it when it also edits what the Application deploys."""
    write_tree(repo, {".gitattributes": attributes})
    test_pr_edits_only_what_a_loose_application_deploys(repo)

