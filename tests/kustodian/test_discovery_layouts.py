"""Default discovery on repositories without `overlays/`: the whole repository is walked, so
an `envs/` + `variants/` layout (gitops-environment-promotion style) and an
`apps/<name>/overlays/<env>` monorepo are rendered and checked per env without PATH.
Includes-only dirs (bases, variants) are checked through their includers, not alone."""

from __future__ import annotations

from pathlib import Path

from support.cli import kustodian, write_tree

KUSTOMIZATION = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
COMPONENT = "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n"


def targets(root: Path) -> dict[str, str | None]:
    run = kustodian("check", "--no-conftest", "--format", "json", cwd=root)
    assert run.returncode in (0, 1), run.stderr
    data = run.json()
    envs = {f["overlay"]: f["env"] for f in data["findings"] if f.get("overlay")}
    return {o: envs.get(o) for o in data["summary"]["overlays"]}


def test_envs_and_variants_layout(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", {
        ".git/HEAD": "",
        "base/kustomization.yaml": KUSTOMIZATION + "resources: [settings.yaml]\n",
        "base/settings.yaml": CONFIGMAP,
        "variants/non-prod/kustomization.yaml": COMPONENT + "labels:\n  - pairs: {tier: np}\n",
        "variants/prod/kustomization.yaml": COMPONENT + "labels:\n  - pairs: {tier: p}\n",
        **{f"envs/{env}/kustomization.yaml":
           KUSTOMIZATION + f"namespace: {env}\nresources: [../../base]\n"
           f"components: [../../variants/{variant}]\n"
           for env, variant in (("qa", "non-prod"), ("staging", "non-prod"), ("prod", "prod"))},
    })
    assert list(targets(root)) == ["envs/prod", "envs/qa", "envs/staging"]


def test_apps_overlays_monorepo_layout(tmp_path: Path) -> None:
    files = {".git/HEAD": ""}
    for app in ("api", "web"):
        files[f"apps/{app}/base/kustomization.yaml"] = KUSTOMIZATION + "resources: [cm.yaml]\n"
        files[f"apps/{app}/base/cm.yaml"] = CONFIGMAP
        for env in ("dev", "prod"):
            files[f"apps/{app}/overlays/{env}/kustomization.yaml"] = (
                KUSTOMIZATION + f"namespace: {app}-{env}\nresources: [../../base]\n")
    root = write_tree(tmp_path / "repo", files)
    assert list(targets(root)) == ["apps/api/overlays/dev", "apps/api/overlays/prod",
                                   "apps/web/overlays/dev", "apps/web/overlays/prod"]


def test_explicit_path_git_ignored_is_checked(tmp_path: Path) -> None:
    """Rendered output is usually git-ignored; passed as PATH it is still checked."""
    from support.cli import init_repo

    root = write_tree(tmp_path / "repo", {
        ".gitignore": "/rendered/\n",
        "overlays/prod/kustomization.yaml": KUSTOMIZATION + "resources: [settings.yaml]\n",
        "overlays/prod/settings.yaml": CONFIGMAP,
        "rendered/app/prod.yaml": CONFIGMAP.replace("settings", "rendered"),
    })
    init_repo(root)
    run = kustodian("check", "--no-conftest", "--format", "json", "rendered", cwd=root)
    assert run.returncode == 0, run.stderr
    assert run.json()["summary"]["resources"] == 1
    full = kustodian("check", "--no-conftest", "--format", "json", cwd=root)
    assert full.returncode == 0, full.stderr
    assert full.json()["summary"]["overlays"] == ["overlays/prod"]   # not the ignored output


def test_manifest_sniffing_by_lines_and_by_parse(tmp_path: Path) -> None:
    """Line sniffing and the parse agree on the cases that matter; neither skips an object."""
    from kustodian.discover import is_manifest

    cases = {
        "plain.yaml": (CONFIGMAP, True),
        "second-doc.yaml": ("a: 1\n---\n" + CONFIGMAP, True),
        "json.json": ('{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}',
                      True),
        "flow.yaml": ("{apiVersion: v1, kind: ConfigMap}\n", True),
        "chart.yaml": ("apiVersion: v2\nname: chart\nversion: 1.0.0\n", False),
        "embedded.yaml": ("data: |\n  apiVersion: v1\n  kind: ConfigMap\n", False),
        "split.yaml": ("apiVersion: v1\n---\nname: x\nkind: note\n", False),   # per document
        "values.yaml": ("image: {repository: x}\nkinds: [apiVersion]\n", False),
        # a hostile spelling the line sniff cannot see: the parse still finds the object
        "escaped.yaml": ('"api\\x56ersion": v1\n"\\x6bind": ConfigMap\n', True),
        "indented-doc.yaml": ("  apiVersion: v1\n  kind: ConfigMap\n", True),
        # documents are sniffed one after the other: the keys must share one document
        "leading-break.yaml": ("---\n" + CONFIGMAP, True),
        "third-doc.yaml": ("a: 1\n---\nb: 2\n--- # c\n" + CONFIGMAP, True),
        "keys-across.yaml": ("kind: A\n---\napiVersion: v1\n---\n", False),
        "dashes-not-break.yaml": ("apiVersion: v1\n----\nkind: ConfigMap\n", True),
        # the document opens on the break line: not seen by lines, found by the parse
        "break-with-text.yaml": ("x: 1\n--- apiVersion: v1\nkind: ConfigMap\n", True),
    }
    for name, (text, expected) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        assert is_manifest(path) is expected, name
    utf16 = tmp_path / "utf16.yaml"          # kubectl reads it; the check then refuses it
    utf16.write_bytes(CONFIGMAP.encode("utf-16"))
    assert is_manifest(utf16)
