"""The gate on this repository (what `make check` runs) and the generated rule catalogue."""

from __future__ import annotations

from kustodian.docsgen import generate
from support.cli import REPO_ROOT, kustodian


def test_repository_overlays_pass_with_zero_findings(kustomize_bin, conftest_bin):
    out = kustodian("check", "--format", "json")
    data = out.json()
    assert data["summary"]["errors"] == []
    problems = [(f["rule"], f["env"], f["kind"], f["name"], f["file"], f["line"], f["message"])
                for f in data["findings"]]
    assert problems == []
    assert out.returncode == 0
    targets = data["summary"]["overlays"]
    for overlay in ("overlays/dev", "overlays/staging", "overlays/staging-canary",
                    "overlays/staging-bluegreen", "overlays/prod", "overlays/prod-canary",
                    "overlays/prod-bluegreen", "argocd", "argocd/bootstrap"):
        assert overlay in targets
    assert not any("release" in t for t in targets)   # kind: Component dirs are not rendered
    assert data["summary"]["resources"] > 50
    # exemptions in a fixed order (not the order the renders finished): runs compare alike
    uses = [(e["file"] or "", e["line"] or 0, e["env"] or "", e["kind"], e["namespace"] or "",
             e["name"], e["rule"], e["container"] or "", e["overlay"] or "")
            for e in data["exemptions"]]
    assert len(uses) > 1 and uses == sorted(uses)


def test_env_option_selects_that_envs_overlays(kustomize_bin):
    out = kustodian("check", "--no-conftest", "--no-schema", "--format", "json", "--env", "prod")
    assert out.returncode in (0, 1), out.stderr
    assert set(out.json()["summary"]["overlays"]) == {"overlays/prod", "overlays/prod-canary",
                                                      "overlays/prod-bluegreen"}


def test_policies_md_is_up_to_date():
    current = (REPO_ROOT / "docs" / "policies.md").read_text()
    assert current == generate(), "docs/policies.md is stale: run `make docs`"


def test_docs_command_prints_the_catalogue():
    out = kustodian("docs")
    assert out.returncode == 0
    assert out.stdout == generate()
    for rule in ("run-as-non-root", "canary-split", "no-host-ports", "exemption-expired"):
        assert f"### {rule}" in out.stdout


def test_unknown_env_is_a_clear_error():
    out = kustodian("check", "--no-conftest", "--env", "qa")
    assert out.returncode == 2
    assert "no overlay belongs to env 'qa'" in out.stderr and "known envs" in out.stderr


def test_nested_kustomizations_are_targets_unless_an_enclosing_one_includes_them(tmp_path):
    """argocd/bootstrap beside argocd/ is its own target; a dir the enclosing kustomization
    lists in resources is rendered through it only; files inside a tree are not loose files."""
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\n  namespace: ns\n"
    (tmp_path / ".git").mkdir()
    for rel, text in {
        "argocd/kustomization.yaml": "resources:\n  - apps/a.yaml\n  - included\n",
        "argocd/apps/a.yaml": cm.format("a"),
        "argocd/included/kustomization.yaml": "resources:\n  - b.yaml\n",
        "argocd/included/b.yaml": cm.format("b"),
        "argocd/bootstrap/kustomization.yaml": "resources:\n  - root.yaml\n",
        "argocd/bootstrap/root.yaml": cm.format("root"),
        ".kustodian.yaml": "overlays:\n  argocd: {env: platform}\n"
                           "  argocd/bootstrap: {env: platform}\n",
    }.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    out = kustodian("check", "--no-conftest", "--no-schema", "--format", "json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.json()["summary"]["overlays"] == ["argocd", "argocd/bootstrap"]
