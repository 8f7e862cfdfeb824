"""`kustodian check` wiring of the Rego policies (real conftest) and of pull-request mode
(--base-ref, --new-only, --summary) on a real git repository."""

from __future__ import annotations

import datetime as dt
import shutil

import yaml
from manifests import fresh, pod_spec
from support.cli import REPO_ROOT, git, kustodian, write_tree

REGO = """
package main

import rego.v1

deny contains result if {
	input.kind == "Deployment"
	not input.metadata.labels.team
	result := {"msg": "Deployment has no team label", "rule": "team-label",
		"severity": "medium", "category": "hygiene", "kind": input.kind,
		"name": input.metadata.name, "namespace": input.metadata.namespace}
}
"""


def app_yaml(**changes) -> str:
    docs = fresh()
    if changes.get("privileged"):
        pod_spec(docs)["containers"][0]["securityContext"]["privileged"] = True
    if changes.get("replicas"):
        docs[0]["spec"]["replicas"] = changes["replicas"]
    if changes.get("no_liveness"):
        pod_spec(docs)["containers"][0].pop("livenessProbe")
    return yaml.safe_dump_all(docs, sort_keys=False)


def test_conftest_findings_are_merged_and_mapped(tmp_path, conftest_bin):
    (tmp_path / ".git").mkdir()
    write_tree(tmp_path, {"policies/team.rego": REGO,
                          "overlays/dev/kustomization.yaml": "resources:\n  - app.yaml\n",
                          "overlays/dev/app.yaml": app_yaml()})
    out = kustodian("check", "--format", "json", cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    [f] = out.findings
    assert (f["rule"], f["source"], f["env"], f["kind"], f["name"]) == (
        "team-label", "conftest", "dev", "Deployment", "web")
    assert (f["file"], f["line"]) == ("overlays/dev/app.yaml", 1)
    out = kustodian("check", "--no-conftest", "--format", "json", cwd=tmp_path)
    assert out.returncode == 0 and out.findings == []


def test_pr_mode_new_unchanged_fixed(tmp_path, kustomize_bin):
    write_tree(tmp_path, {
        ".kustodian.yaml": "overlays:\n  overlays/dev: {env: dev}\n",
        "overlays/dev/kustomization.yaml": "resources:\n  - app.yaml\n",
        "overlays/dev/app.yaml": app_yaml(no_liveness=True),
    })
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "base")
    (tmp_path / "overlays/dev/app.yaml").write_text(app_yaml(no_liveness=True, privileged=True))
    git(tmp_path, "commit", "-qam", "head")
    summary = tmp_path / "summary.md"
    out = kustodian("check", "--no-conftest", "--format", "json", "--base-ref", "main~1",
                  "--summary", str(summary), cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    status = {f["rule"]: f["status"] for f in out.findings}
    assert status == {"no-privileged": "new", "liveness-probe": "unchanged"}
    assert "no-privileged" in summary.read_text()
    # --new-only: fixing the new problem passes even though an old one remains
    (tmp_path / "overlays/dev/app.yaml").write_text(app_yaml(no_liveness=True, replicas=4))
    git(tmp_path, "commit", "-qam", "fix")
    out = kustodian("check", "--no-conftest", "--new-only", "--base-ref", "main~2",
                  cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    out = kustodian("check", "--no-conftest", "--base-ref", "main~2", cwd=tmp_path)
    assert out.returncode == 1


def test_pr_flags_need_base_ref(tmp_path):
    (tmp_path / ".git").mkdir()
    out = kustodian("check", "--new-only", ".", cwd=tmp_path)
    assert out.returncode == 2 and "--base-ref" in out.stderr


def test_dockerfile_path_goes_to_the_rego(tmp_path, conftest_bin):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM ubuntu:latest\nADD https://example.com/x.tgz /x\n"
                          "CMD [\"sleep\", \"1\"]\n")
    out = kustodian("check", "--format", "json", str(dockerfile))
    assert out.returncode == 1, out.stderr
    rules = {f["rule"] for f in out.findings}
    assert {"dockerfile-non-root-user", "dockerfile-no-add-url"} <= rules
    add = next(f for f in out.findings if f["rule"] == "dockerfile-no-add-url")
    assert add["line"] == 2 and add["source"] == "conftest"


def test_rego_findings_honour_exemptions(tmp_path, conftest_bin):
    (tmp_path / ".git").mkdir()
    docs = fresh()
    docs[0]["metadata"]["annotations"] = {
        "kustodian.io/exempt": "team-label: owned by the platform team; "
                               f"expires={dt.date.today() + dt.timedelta(days=30)}"}
    write_tree(tmp_path, {"policies/team.rego": REGO,
                          "overlays/dev/kustomization.yaml": "resources:\n  - app.yaml\n",
                          "overlays/dev/app.yaml": yaml.safe_dump_all(docs, sort_keys=False)})
    out = kustodian("check", "--format", "json", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    data = out.json()
    assert data["findings"] == []
    assert [(e["rule"], e["suppressed"], e["status"]) for e in data["exemptions"]] == [
        ("team-label", 1, "active")]


def _images_tree(tag: str, registry: str = "ghcr.io/acme") -> dict[str, str]:
    return {
        ".kustodian.yaml": "overlays:\n  overlays/prod: {env: prod}\n",
        "overlays/prod/kustomization.yaml":
            "resources:\n  - app.yaml\nimages:\n  - name: ghcr.io/acme/web\n"
            f"    newName: {registry}/web\n    newTag: \"{tag}\"\n",
        "overlays/prod/app.yaml": app_yaml(),
    }


def test_rego_image_finding_points_at_the_images_entry(tmp_path, conftest_bin):
    """allowed-registries (Rego) names the overlay line that set the image, not the base."""
    (tmp_path / ".git").mkdir()
    write_tree(tmp_path, _images_tree("1.0@sha256:" + "a" * 64, registry="docker.io/evil"))
    shutil.copytree(REPO_ROOT / "policies", tmp_path / "policies")  # the shipped Rego
    out = kustodian("check", "--format", "json", cwd=tmp_path)
    [f] = [f for f in out.findings if f["rule"] == "allowed-registries"]
    assert f["file"] == "overlays/prod/kustomization.yaml"
    assert f["line"] in (4, 5, 6)  # the images: entry (name/newName/newTag), not the base
    assert f["field_path"].endswith(".image")


def test_pr_mode_retagging_an_undigested_image_is_not_a_new_finding(tmp_path, kustomize_bin):
    write_tree(tmp_path, _images_tree("1.0"))
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "base")
    write_tree(tmp_path, _images_tree("1.1"))
    git(tmp_path, "commit", "-qam", "retag")
    out = kustodian("check", "--no-conftest", "--format", "json", "--base-ref", "main~1",
                  "--new-only", cwd=tmp_path)
    digest = [f for f in out.findings if f["rule"] == "image-digest-pinned"]
    assert digest and {f["status"] for f in digest} == {"unchanged"}, out.stdout
    assert out.returncode == 0, out.stdout
