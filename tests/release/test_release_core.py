"""Release as a client of the core: the one repository configuration (its typed `release:`
section), the policy gate as the check pipeline in process with the one finding fingerprint,
git through the one git module (also when the repository is a subdirectory of a work tree)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import release_helpers as rh
from release_helpers import DIGEST_A
from support.cli import git, init_repo, kustodian

DEV = "overlays/dev/release/kustomization.yaml"
BASE = "base/deployment.yaml"


def _config_with(repo: Path, old: str, new: str) -> None:
    config = repo / ".kustodian.yaml"
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new))


@pytest.mark.parametrize(("old", "new", "key"), [
    ("canary_steps: [10, 25, 50, 100]", "canary_steps: [10, 200]", "release.canary_steps"),
    ("canary_steps: [10, 25, 50, 100]", "canary_steps: [25, 10]", "release.canary_steps"),
    ("canary_image: agent-canary", "canary_image: [agent-canary]", "release.canary_image"),
    ("canary_image: agent-canary", "canary_image: agent-canary\n  canary_soak: soon",
     "release.canary_soak"),
    ("canary_image: agent-canary", "canary_image: agent-canary\n  canary_step: [10]",
     "canary_step"),
    ("{env: prod, canary: true,", "{env: prod, canary: sure,", "overlays.overlays/prod-canary"),
])
def test_a_bad_release_setting_names_the_file_and_key(repo: Path, old: str, new: str,
                                                       key: str) -> None:
    """The release settings are read with the rest of the configuration: a wrong value is
    the same clear error for a release command and for `kustodian check`."""
    _config_with(repo, old, new)
    before = rh.snapshot(repo)
    for args in (("bump", "--env", "dev", "--tag", "1.2.0", "--no-check"),
                 ("check", "overlays/dev")):
        proc = kustodian(*args, cwd=repo)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert ".kustodian.yaml" in proc.stderr and key in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert rh.snapshot(repo) == before


def test_no_configuration_found_is_a_clear_error(tmp_path: Path) -> None:
    proc = kustodian("bump", "--env", "dev", "--tag", "1.2.0", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no .kustodian.yaml found" in proc.stderr and "--repo" in proc.stderr


def test_the_loaded_configuration_is_shared_and_immutable(repo: Path, tmp_path: Path) -> None:
    """One parse per text, no copy per load: nothing a caller gets can change it."""
    from kustodian.config import load_config
    from kustodian.release.config import load_config as load_release_config

    first = load_config(repo)
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy2(repo / ".kustodian.yaml", other / ".kustodian.yaml")
    second = load_config(other)
    assert (first.root, second.root) == (repo, other)
    assert second.path == other / ".kustodian.yaml"
    assert first.overlays is second.overlays and first.release is second.release
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.env_order = ("prod",)                                   # type: ignore[misc]
    with pytest.raises(TypeError):
        first.overlays["overlays/dev"] = {"env": "prod"}              # type: ignore[index]
    with pytest.raises(TypeError):
        first.overlays["overlays/dev"]["env"] = "prod"                # type: ignore[index]
    assert load_config(repo).overlays["overlays/dev"]["env"] == "dev"
    release = load_release_config(repo)
    assert (release.image, release.canary_steps, release.canary_soak) == \
        ("ghcr.io/acme/agent", (10, 25, 50, 100), 600)
    assert release.require_digest == ("prod",)


def _mutable_parts(value: object, where: str = "config") -> list[str]:
    """Where a loaded configuration holds a dict, list or set (anything a caller could change
    in the one instance every load of the same text shares)."""
    from collections.abc import Mapping

    if isinstance(value, (dict, list, set, bytearray)):
        return [where]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [p for f in dataclasses.fields(value)
                for p in _mutable_parts(getattr(value, f.name), f"{where}.{f.name}")]
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in _mutable_parts(v, f"{where}[{k!r}]")]
    if isinstance(value, (tuple, frozenset)):
        return [p for i, v in enumerate(value) for p in _mutable_parts(v, f"{where}[{i}]")]
    return []


@pytest.mark.parametrize("text", [
    "environments: {order: [dev, prod]}\n"
    "profiles:\n  dev: {enable: [min-replicas], severity: {no-privileged: info}}\n"
    "release: {canary_analysis: {prometheus: 'http://127.0.0.1:9', checks: [{max: 1}]}}\n"
    "targets: {argocd: {env: prod, extra: [a, {b: c}]}}\n"
    "pod_kinds: [{kind: Job, spec: spec.template.spec}]\n",
    "profiles: {prod: {disable: [min-replicas]}}\n",     # every default of the sections
])
def test_no_part_of_the_shared_configuration_can_be_changed(tmp_path: Path, text: str) -> None:
    """A release and a check in one process load the same text: a change one of them made
    to a nested value (a profile's severities, the canary analysis) would reach the other."""
    from kustodian.config import load_config

    (tmp_path / ".kustodian.yaml").write_text(text)
    config = load_config(tmp_path)
    assert config is load_config(tmp_path)
    assert _mutable_parts(config) == []


def test_the_gate_is_the_check_pipeline_with_the_one_fingerprint(repo: Path) -> None:
    """Findings come back as the core's `Finding`s; a change that only moves lines adds
    none (no line numbers in the identity), and the added ones are exactly PR mode's new."""
    from kustodian.prmode.classify import classify
    from kustodian.release.config import load_config
    from kustodian.release.gate import added_findings, run_check

    config = load_config(repo)
    kfile = repo / DEV
    kfile.write_text(kfile.read_text().replace(
        '"1.1.0@sha256:' + "1" * 64 + '"', "latest"))
    before = run_check(config, ["overlays/dev"])
    pinned = [f for f in before.findings if f.rule == "image-tag-pinned"]
    assert pinned and pinned[0].file == DEV, before.findings
    line = pinned[0].line
    kfile.write_text("# moved\n# down\n" + kfile.read_text())
    after = run_check(config, ["overlays/dev"])
    moved = [f for f in after.findings if f.rule == "image-tag-pinned"]
    assert [f.line for f in moved] == [line + 2]          # the edited file, read again
    assert added_findings(before, after) == []
    base = repo / BASE
    base.write_text(base.read_text().replace("containers:", "hostNetwork: true\n      "
                                                            "containers:", 1))
    worse = run_check(config, ["overlays/dev"])
    added = added_findings(after, worse)
    assert added and {f.rule for f in added} >= {"no-host-namespaces"}, added
    marked, _ = classify(worse.report, after.report)
    assert [f.fingerprint() for f in added] == \
        [f.fingerprint() for f in marked.findings if f.status == "new"]


def test_a_repository_in_a_subdirectory_of_the_work_tree(tmp_path: Path) -> None:
    """The configuration root is `deploy/` of a larger work tree: status, staging, the
    plan check and the commit all speak of the right paths."""
    top = tmp_path / "top"
    shutil.copytree(rh.FIXTURE_REPO, top / "deploy")
    (top / "README").write_text("the application\n")
    init_repo(top)
    repo = top / "deploy"
    proc = kustodian("bump", "--env", "dev", "--tag", "1.6.0", "--digest", DIGEST_A,
                     "--commit", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert git(top, "show", "--name-only", "--format=", "HEAD").split() == [f"deploy/{DEV}"]
    assert git(top, "status", "--porcelain") == ""
    (top / "README").write_text("changed\n")
    dirty = kustodian("bump", "--env", "dev", "--tag", "1.7.0", "--digest", DIGEST_A,
                      "--commit", cwd=repo)
    assert dirty.returncode == 2 and "uncommitted changes: README" in dirty.stderr
