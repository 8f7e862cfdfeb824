"""2. Self-service exemptions are governed.

Whoever writes the pull request writes its exemptions too. An exemption names one known
rule, expires within the repository's horizon (default 90 days), a resource carries a few at
most, and it is declared for its one resource - never through `commonAnnotations` or a
Component/patch stamped on many resources. Anything else suppresses nothing and is reported
(`exemption-refused`) at the line that declares it."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from security_helpers import check_docs
from support.cli import kustodian

SOON = (dt.date.today() + dt.timedelta(days=30)).isoformat()
TWELVE = ["no-privileged", "run-as-non-root", "no-privilege-escalation", "drop-all-capabilities",
          "read-only-root-filesystem", "seccomp-profile", "no-host-namespaces", "no-host-path",
          "resource-limits", "liveness-probe", "readiness-probe", "image-digest-pinned"]


@pytest.mark.parametrize("expiry", ["", "; expires=9999-12-31"])
def test_blanket_component_exemption_is_refused_on_a_clone(scratch, expiry):
    value = "\n".join(f"{rule}: debugging{expiry}" for rule in TWELVE)
    scratch.write("components/debug/kustomization.yaml", f"""
        apiVersion: kustomize.config.k8s.io/v1alpha1
        kind: Component
        commonAnnotations:
          kustodian.io/exempt: |
{''.join(f'            {line}{chr(10)}' for line in value.splitlines())}""")
    kfile = scratch.root / "overlays/dev/kustomization.yaml"
    kfile.write_text(kfile.read_text().replace("components:\n", "components:\n  - "
                                               "../../components/debug\n", 1))
    scratch.privileged_patch()
    scratch.commit("debug component")
    for run in (scratch.full(), scratch.pr()):
        assert run.returncode == 1, run.stderr
        assert "no-privileged" in run.rules()          # the exemption suppressed nothing
        refused = run.of("exemption-refused")
        assert refused, run.rules()
        # reported where it is declared: the component's commonAnnotations, not base/
        assert {f["file"] for f in refused} == {"components/debug/kustomization.yaml"}
        assert all(f["line"] == 4 for f in refused), [f["line"] for f in refused]
        assert not [e for e in run.report["exemptions"]
                    if e["status"] == "active" and e["env"] == "dev"]
    assert "no-privileged" in run.summary and "exemption-refused" in run.summary


def test_an_exemption_on_its_own_resource_within_the_horizon_applies(scratch):
    scratch.privileged_patch()
    patch = scratch.root / "overlays/dev/patches/debug.yaml"
    patch.write_text(patch.read_text().replace(
        "metadata: {name: agent}", "metadata:\n  name: agent\n  annotations:\n"
        f"    kustodian.io/exempt: \"no-privileged: debugging OPS-1; expires={SOON}\""))
    patch.write_text(patch.read_text().replace("privileged: true, allowPrivilegeEscalation: true",
                                               "privileged: true"))
    scratch.commit("one exemption")
    run = scratch.full()
    assert "no-privileged" not in run.rules() and "exemption-refused" not in run.rules()
    [use] = [e for e in run.report["exemptions"] if e["rule"] == "no-privileged"]
    assert (use["status"], use["file"], use["line"]) == (
        "active", "overlays/dev/patches/debug.yaml", 6)


def deployment(name: str, exempt: str | None) -> dict:
    meta = {"name": name, "namespace": "shop"}
    if exempt is not None:
        meta["annotations"] = {"kustodian.io/exempt": exempt}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "x"}]}}}}


@pytest.mark.parametrize(("exempt", "refused"), [
    (f"liveness-probe: reason; expires={SOON}", None),
    ("liveness-probe: reason", "no expires= date"),
    ("liveness-probe: reason; expires=9999-12-31", "more than 90 days ahead"),
    ((f"liveness-probe: r; expires={SOON}\nreadiness-probe: r; expires={SOON}\n"
      f"resource-limits: r; expires={SOON}\nresource-requests: r; expires={SOON}"),
     "at most 3 per resource"),
])
def test_governance_of_one_exemption(tmp_path, exempt, refused):
    found = check_docs(tmp_path, [deployment("web", exempt)], "dev")
    messages = [f.message for f in found if f.rule == "exemption-refused"]
    if refused is None:
        assert messages == [] and "liveness-probe" not in {f.rule for f in found}
    else:
        assert any(refused in m for m in messages), messages
        assert "liveness-probe" in {f.rule for f in found}


def test_horizon_and_count_come_from_the_repo_config(tmp_path):
    (tmp_path / ".kustodian.yaml").write_text("exemptions: {max_days: 7, max_per_resource: 1}\n")
    found = check_docs(tmp_path, [deployment("web", f"liveness-probe: r; expires={SOON}")],
                       "dev")
    assert any("more than 7 days" in f.message for f in found if f.rule == "exemption-refused")


def test_a_patch_stamping_an_exemption_on_many_resources_is_refused(tree_repo):
    root = tree_repo({
        "overlays/dev/kustomization.yaml": """
            resources: [app.yaml]
            patches:
              - target: {kind: Deployment}
                patch: |
                  - op: add
                    path: /metadata/annotations
                    value: {kustodian.io/exempt: "liveness-probe: r; expires=SOON"}
            """.replace("SOON", SOON),
        "overlays/dev/app.yaml": "\n---\n".join(
            f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {n}, namespace: shop}}\n"
            "spec:\n  selector: {matchLabels: {app: x}}\n  template:\n"
            "    metadata: {labels: {app: x}}\n    spec: {containers: [{name: c, image: x}]}\n"
            for n in ("a", "b")),
    })
    out = kustodian("check", "--no-conftest", "--no-schema", "--format", "json", cwd=root)
    report = json.loads(out.stdout)
    refused = [f for f in report["findings"] if f["rule"] == "exemption-refused"]
    assert len(refused) == 2 and all("applied to 2 resources" in f["message"] for f in refused)
    assert {f["file"] for f in refused} == {"overlays/dev/kustomization.yaml"}
