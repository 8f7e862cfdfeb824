"""Hostile pull requests against pull-request mode's view of Argo CD: an Argo CD object whose
apiVersion no file spells out (`argoproj.io/v...`), because a render assembles or decodes it.

PR 1 (merged) adds such a construction: an Application, generated at render time, deploying
a dir nothing else reads (clean). PR 2 edits only that dir (a privileged pod). A full check
renders the construction, follows the Application and flags the pod; PR mode
(`--base-ref main --new-only`) must flag it as new too, never pass with a smaller scope.
Constructions: a Helm chart no Application renders (its template computes the apiVersion),
kustomize `replacements` with a delimiter, `vars` with a `configurations` fieldSpec, a
PrefixSuffixTransformer on `apiVersion`, a JSON patch with a `\\u` escape, a UTF-16
resource, a `!!binary` apiVersion (in a kustomize resource and in a loose file)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support.cli import check_json, commit_all, git, init_repo, write_tree

URL = "https://github.com/acme/example-apps.git"
TARGET = "kustomize-guestbook/debug"        # inside a kustomization tree, read by nothing
PRIVILEGED_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: debug
spec:
  containers:
    - name: debug
      image: busybox
      securityContext: {privileged: true}
"""
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata: {a: b}\n"


def application(name: str, path: str, namespace: str, api: str = "argoproj.io") -> str:
    return (f"apiVersion: {api}/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n"
            f"  namespace: argocd\nspec:\n  project: default\n  source:\n"
            f"    repoURL: {URL}\n    path: {path}\n  destination:\n"
            f"    server: https://kubernetes.default.svc\n    namespace: {namespace}\n")


HIDDEN = application("hidden", TARGET, "hidden-prod", api="example.io")
GENERATOR = """\
configMapGenerator:
- name: g
  literals: [group=argoproj]
  options: {disableNameSuffixHash: true}
"""


def chart(repo: Path) -> None:
    write_tree(repo, {
        "gen/Chart.yaml": "apiVersion: v2\nname: gen\nversion: 0.1.0\n",
        "gen/templates/app.yaml": HIDDEN.replace(
            "example.io/v1alpha1", '{{ printf "%s.io/v1alpha1" "argoproj" }}'),
    })


def replacements(repo: Path) -> None:
    write_tree(repo, {"gen/app.yaml": HIDDEN, "gen/kustomization.yaml": (
        "resources: [app.yaml]\n" + GENERATOR + "replacements:\n"
        "- source: {kind: ConfigMap, name: g, fieldPath: data.group}\n"
        "  targets:\n  - select: {kind: Application}\n    fieldPaths: [apiVersion]\n"
        "    options: {delimiter: '.', index: 0}\n")})


def replacements_in_a_component(repo: Path) -> None:
    """The same, with the replacements in a Component its includer names."""
    write_tree(repo, {"gen/app.yaml": HIDDEN,
                      "gen/kustomization.yaml": "resources: [app.yaml]\n" + GENERATOR
                      + "components: [../splice]\n",
                      "splice/kustomization.yaml": (
                          "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
                          "replacements:\n"
                          "- source: {kind: ConfigMap, name: g, fieldPath: data.group}\n"
                          "  targets:\n  - select: {kind: Application}\n"
                          "    fieldPaths: [apiVersion]\n"
                          "    options: {delimiter: '.', index: 0}\n")})


def vars_and_configurations(repo: Path) -> None:
    write_tree(repo, {
        "gen/app.yaml": HIDDEN.replace("example.io", "$(G).io"),
        "gen/cfg.yaml": "varReference:\n- path: apiVersion\n",
        "gen/kustomization.yaml": (
            "resources: [app.yaml]\nconfigurations: [cfg.yaml]\n" + GENERATOR + "vars:\n"
            "- name: G\n  objref: {kind: ConfigMap, name: g, apiVersion: v1}\n"
            "  fieldref: {fieldpath: data.group}\n")})


def prefix_transformer(repo: Path) -> None:
    write_tree(repo, {
        "gen/app.yaml": HIDDEN.replace("example.io", ".io"),
        "gen/prefix.yaml": ("apiVersion: builtin\nkind: PrefixSuffixTransformer\n"
                            "metadata: {name: p}\nprefix: argoproj\n"
                            "fieldSpecs:\n- path: apiVersion\n"),
        "gen/kustomization.yaml": "resources: [app.yaml]\ntransformers: [prefix.yaml]\n"})


def escaped_json_patch(repo: Path) -> None:
    write_tree(repo, {
        "gen/app.yaml": HIDDEN,
        "gen/patch.json": ('[{"op": "replace", "path": "/apiVersion",'
                           ' "value": "\\u0061rgoproj.io/v1alpha1"}]\n'),
        "gen/kustomization.yaml": ("resources: [app.yaml]\npatches:\n"
                                   "- path: patch.json\n  target: {kind: Application}\n")})


def utf16_resource(repo: Path) -> None:
    write_tree(repo, {"gen/kustomization.yaml": "resources: [app.txt]\n"})
    (repo / "gen/app.txt").write_bytes(
        HIDDEN.replace("example.io", "argoproj.io").encode("utf-16"))


def binary_tag(repo: Path) -> None:
    write_tree(repo, {
        "gen/app.yaml": HIDDEN.replace("example.io/v1alpha1",
                                       "!!binary YXJnb3Byb2ouaW8vdjFhbHBoYTE="),
        "gen/kustomization.yaml": "resources: [app.yaml]\n"})


def binary_tag_in_a_loose_file(repo: Path) -> None:
    """A plain manifest file (no kustomization): kubectl and Argo CD decode `!!binary`."""
    write_tree(repo, {"gen/app.yaml": HIDDEN.replace(
        "example.io/v1alpha1", "!!binary YXJnb3Byb2ouaW8vdjFhbHBoYTE=")})


CONSTRUCTIONS = [chart, replacements, replacements_in_a_component, vars_and_configurations,
                 prefix_transformer, escaped_json_patch, utf16_resource, binary_tag,
                 binary_tag_in_a_loose_file]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """An argocd-example-apps-like repository on main (an app of apps at the root)."""
    root = write_tree(tmp_path / "example-apps", {
        ".kustodian.yaml": (f"repoURLs: [{URL}]\ntargets:\n  gen: {{env: platform}}\n"
                            "  kustomize-guestbook: {env: dev}\n"
                            "applications:\n  apps: {env: platform}\n"),
        "root-app.yaml": application("apps", "apps", "argocd-platform"),
        "apps/guestbook.yaml": application("guestbook", "kustomize-guestbook",
                                           "guestbook-dev"),
        "kustomize-guestbook/kustomization.yaml": "resources: [cm.yaml]\n",
        "kustomize-guestbook/cm.yaml": CONFIGMAP,
        f"{TARGET}/cm.yaml": CONFIGMAP.replace("name: x", "name: y"),
    })
    return init_repo(root)


def privileged(report: dict, *, new: bool) -> list[dict]:
    return [f for f in report.get("findings", []) if f["rule"] == "no-privileged"
            and f["file"] == f"{TARGET}/pod.yaml" and (not new or f["status"] == "new")]


@pytest.mark.parametrize("construction", CONSTRUCTIONS, ids=lambda c: c.__name__)
def test_second_pr_edits_only_what_a_generated_application_deploys(
        repo: Path, construction: Callable[[Path], None]) -> None:
    construction(repo)
    commit_all(repo, "PR 1: a generated Application")
    code, report, err = check_json(repo)
    assert code == 0, (report.get("errors"), err)
    assert any(t["target"] == f"{TARGET}@hidden" for t in report["summary"]["targets"])
    git(repo, "checkout", "-q", "-b", "pr")
    write_tree(repo, {f"{TARGET}/pod.yaml": PRIVILEGED_POD})
    commit_all(repo, "PR 2: edits only what it deploys")
    code, report, err = check_json(repo)
    assert code == 1 and privileged(report, new=False), err
    code, report, err = check_json(repo, "--base-ref", "main", "--new-only")
    assert code == 1, (report.get("errors"), err)
    assert privileged(report, new=True), report.get("summary", {}).get("targets")


def test_pr_edits_a_chart_no_application_renders(repo: Path) -> None:
    """A full check renders a standalone chart with its default values; PR mode must check
    a change to its templates too."""
    write_tree(repo, {"gen/Chart.yaml": "apiVersion: v2\nname: gen\nversion: 0.1.0\n",
                      "gen/templates/cm.yaml": CONFIGMAP})
    commit_all(repo, "a chart")
    git(repo, "checkout", "-q", "-b", "pr")
    write_tree(repo, {"gen/templates/pod.yaml": PRIVILEGED_POD})
    commit_all(repo, "a privileged pod in the chart")
    for args in ((), ("--base-ref", "main", "--new-only")):
        code, report, err = check_json(repo, *args)
        assert code == 1, (args, report.get("errors"), err)
        assert [f for f in report["findings"] if f["rule"] == "no-privileged"
                and f.get("status") in (None, "new")], args


def test_an_unpredicted_argocd_object_fails_pr_mode(repo: Path) -> None:
    """The backstop: a target whose render holds an Argo CD object that PR mode's search did
    not count (whatever trick hid it) is an error naming the target and the object, so the
    gate cannot pass on a scope it knows to be incomplete."""
    from kustodian.commands.check import unpredicted
    from kustodian.config import load_config
    from kustodian.discover import Target
    from kustodian.pipeline import CheckOptions, Pipeline

    replacements(repo)
    pipeline = Pipeline(repo, load_config(repo), CheckOptions(schema=False, conftest=False))
    pipeline.run([Target("overlay", repo / "gen", "gen", "platform"),
                  Target("files", repo, ".", None, [repo / "root-app.yaml"])])
    assert pipeline.argocd_holders == {"gen": ["Application hidden"],
                                       "root-app.yaml": ["Application apps"]}
    assert unpredicted(pipeline.argocd_holders, {"gen", "root-app.yaml"}) == []
    [error] = unpredicted(pipeline.argocd_holders, {"root-app.yaml"})
    assert error.startswith("gen: renders Argo CD object(s) (Application hidden)"), error
    assert "apiVersion: argoproj.io/v1alpha1" in error


def test_env_without_path_checks_the_applications_deploying_to_it(tmp_path: Path) -> None:
    """`--env prod` without PATH: the Application deploying `web` to prod is held by a
    target of another env (argocd/, platform); it must still be followed, in full and in
    PR mode, and only prod's findings reported."""
    root = write_tree(tmp_path / "repo", {
        ".kustodian.yaml": (f"repoURLs: [{URL}]\ntargets:\n  argocd: {{env: platform}}\n"
                            ),
        "argocd/kustomization.yaml": "resources: [web.yaml]\n",
        "argocd/web.yaml": application("web", "web", "web-prod"),
        "web/kustomization.yaml": "resources: [cm.yaml]\n",
        "web/cm.yaml": CONFIGMAP,
        "overlays/prod/kustomization.yaml": "resources: [cm.yaml]\n",
        "overlays/prod/cm.yaml": CONFIGMAP,
    })
    init_repo(root)
    git(root, "checkout", "-q", "-b", "pr")
    write_tree(root, {"web/pod.yaml": PRIVILEGED_POD,
                      "web/kustomization.yaml": "resources: [cm.yaml, pod.yaml]\n"})
    commit_all(root, "a privileged pod")
    for args in ((), ("--base-ref", "main", "--new-only")):
        code, report, err = check_json(root, "--env", "prod", *args)
        assert code == 1, (args, report.get("errors"), err)
        found = [f for f in report["findings"] if f["rule"] == "no-privileged"]
        assert [(f["env"], f["application"]) for f in found] == [("prod", "web")], args
        assert {f["env"] for f in report["findings"]} == {"prod"}, args
        assert {t["env"] for t in report["summary"]["targets"]} == {"prod"}, args


@pytest.mark.parametrize(("replacements", "elsewhere"), [
    ([{"source": {}, "targets": [{"fieldPaths": ["spec.selector.color"]}]}], True),
    ([{"source": {}, "targets": [{"fieldPaths": ["apiVersion"]}]}], False),
    ([{"source": {}, "targets": [{"fieldPaths": ["*"]}]}], False),
    ([{"source": {}, "targets": [{"fieldPaths": ["[apiVersion]"]}]}], False),
    ([{"path": "replacements.yaml"}], False),
    ("not a list", False),
])
def test_only_replacements_that_may_write_an_apiversion_widen_pr_mode(replacements, elsewhere):
    """A kustomization whose replacements provably write other fields (this repository's
    blue-green Component) is no reason to check its overlays on every change."""
    from kustodian.argocd.prscope import _replaces_elsewhere

    assert _replaces_elsewhere(replacements) is elsewhere
