"""7. Input built to crash or hang the gate is an error in bounded time, never a leak.

Here: kustomize renders run under CPU, memory and wall-time limits (an alias bomb inside
kustomize's input is stopped, not grown past a gigabyte), error diagnosis never opens files
outside the repository (a symlink out, `../..`) nor prints their path or keys, and the PR
summary's rendered diff is computed in time linear in practice (git's xdiff, not difflib).

Bounded YAML parsing (nesting depth, size, node count, aliases before the C loader; only
regular files inside the repository read) and Markdown escaping of everything from the
manifests are tested in tests/kustodian/test_hostile_input.py and the report tests."""

from __future__ import annotations

import time

from kustodian import textdiff
from kustodian.diagnose import diagnose
from kustodian.kustomize.build import render
from security_helpers import git
from support.processes import require_tool


def alias_bomb(levels: int = 9) -> str:
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: bomb",
             "  annotations:", '    x0: &x0 "lolololololololololololololololololol"']
    for i in range(1, levels):
        lines.append(f"    x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_in_kustomize_input_is_stopped(scratch, monkeypatch):
    scratch.write("overlays/dev/bomb.yaml", alias_bomb())
    kfile = scratch.root / "overlays/dev/kustomization.yaml"
    kfile.write_text(kfile.read_text().replace("resources:\n", "resources:\n  - bomb.yaml\n", 1))
    scratch.commit("bomb")
    monkeypatch.setenv("KUSTODIAN_RENDER_MEMORY_MB", "256")
    started = time.monotonic()
    run = scratch.full("overlays/dev")
    assert run.returncode == 2, run.stderr
    assert "alias" in run.stderr or "memory limit" in run.stderr, run.stderr
    assert time.monotonic() - started < 90


def test_a_render_past_its_memory_limit_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "bomb.yaml").write_text(alias_bomb())
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - bomb.yaml\n")
    monkeypatch.setenv("KUSTODIAN_RENDER_MEMORY_MB", "256")
    result = render(tmp_path, "bomb", require_tool("kustomize"))
    assert "exceeded its memory limit (256 MB)" in str(result.error)


def test_diagnosis_never_opens_files_outside_the_repository(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "creds.yaml").write_text("api_token: hunter2\nbroken: [\n")
    repo = tmp_path / "repo"
    overlay = repo / "overlays/dev"
    overlay.mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text("resources:\n  - creds.yaml\n")
    (overlay / "creds.yaml").symlink_to(outside / "creds.yaml")
    assert diagnose(overlay, str, repo) is None
    (overlay / "creds.yaml").unlink()
    (overlay / "creds.yaml").write_text("api_token: x\nbroken: [\n")
    assert "creds.yaml" in str(diagnose(overlay, str, repo))


def test_a_symlink_out_of_the_repository_leaks_nothing_on_a_clone(scratch, tmp_path):
    secret = tmp_path / "elsewhere" / "id.yaml"
    secret.parent.mkdir()
    secret.write_text("aws_secret_access_key: hunter2\nbroken: [\n")
    (scratch.root / "overlays/dev/patches/leak.yaml").symlink_to(secret)
    kfile = scratch.root / "overlays/dev/kustomization.yaml"
    kfile.write_text(kfile.read_text().rstrip("\n") + "\n  - path: patches/leak.yaml\n")
    scratch.commit("leak")
    for run in (scratch.full(), scratch.pr()):
        text = run.stderr + str(run.report) + run.summary
        assert "hunter2" not in text and "aws_secret_access_key" not in text
        assert str(secret.parent) not in text
        # refused either way: a remote-resource finding, or discovery's error on a link that
        # leads outside the repository (both block the merge)
        assert run.returncode != 0, run.stderr
        assert run.of("remote-resource") or "leads outside the repository" in run.stderr, \
            run.stderr


def test_the_rendered_diff_is_linear_in_practice():
    before = "\n".join(f"  key{i}: value-{i % 7}" for i in range(30_000))
    after = "\n".join(f"  key{i}: value-{(i * 3) % 7}" for i in range(30_000))
    started = time.monotonic()
    lines = textdiff.unified(before, after, "a", "b")     # difflib: ~90-480 s
    assert lines[:2] == ["--- a", "+++ b"] and len(lines) > 30_000
    assert time.monotonic() - started < 10


def _generated(factor: int) -> str:
    lines = "\n".join(f"    line {i}: value-{(i * factor) % 7}" for i in range(30_000))
    return ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: generated}\n"
            f"data:\n  big: |\n{lines}\n")


def test_a_huge_generated_change_keeps_pr_mode_fast(scratch):
    scratch.write("overlays/dev/generated.yaml", _generated(1))
    kfile = scratch.root / "overlays/dev/kustomization.yaml"
    kfile.write_text(kfile.read_text().replace("resources:\n", "resources:\n"
                                               "  - generated.yaml\n", 1))
    scratch.commit("generated config")
    git(scratch.root, "branch", "-f", "main")        # the base has the 30,000-line file
    scratch.write("overlays/dev/generated.yaml", _generated(3))
    scratch.commit("regenerated")
    started = time.monotonic()
    run = scratch.pr()
    assert run.returncode in (0, 1), run.stderr
    assert "Diff truncated" in run.summary
    assert time.monotonic() - started < 120
