"""PR mode == full mode on what it checks: on seeded random edits of a generated monorepo
(real git, real kustomize), the findings PR mode reports as new are exactly those a full
check of HEAD has beyond a full check of the base, and the verdicts agree.

Edits mix hostile and benign changes the affected-set computation must follow: a patch
edited in place, a patch reached through a transformer config or a YAML-escaped path, a
shared Component, a base, a new Component dir, a symlinked dir, a plain manifest file, a
Helm chart generating an Application (its apiVersion assembled at render time), a comment.
KUSTODIAN_PR_SEED picks another sequence (the failing seed is in the message).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

from support.cli import git, kustodian

REPO_URL = "https://example.invalid/acme/mono.git"   # the generated repository's remote
HOST_PID = "    spec:\n      hostPID: true\n      containers:\n"
POD_SPEC = "    spec:\n      containers:\n"


def check(repo: Path, *args: str) -> tuple[int, Counter]:
    proc = kustodian("check", "--no-conftest", "--format", "json", *args, cwd=repo)
    assert proc.returncode in (0, 1), proc.stderr
    findings = json.loads(proc.stdout)["findings"]
    keys = Counter((f["rule"], f["env"], f["kind"], f["namespace"], f["name"], f["container"],
                    f["file"], f["field_path"] or f["message"])
                   for f in findings if len(args) == 0 or f["status"] == "new")
    return proc.returncode, keys


def patch_text(kind: str, name: str, hostile: bool) -> str:
    spec = HOST_PID if hostile else POD_SPEC
    return (f"apiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n"
            f"  template:\n{spec}        - name: app\n          env:\n"
            f"            - {{name: X, value: \"1\"}}\n")


class Editor:
    """Seeded edits of a generated repository (see the module docstring)."""

    def __init__(self, repo: Path, rng: random.Random) -> None:
        self.repo = repo
        self.rng = rng
        self.apps = sorted(p.name for p in (repo / "base").iterdir())
        self.patches = sorted(str(p.relative_to(repo))
                              for p in repo.glob("overlays/*/*/patches/*.yaml"))
        self.count = 0

    def workload(self, app: str) -> tuple[str, str]:
        text = (self.repo / "base" / app / "workload.yaml").read_text()
        return ("StatefulSet" if "kind: StatefulSet" in text else "Deployment"), app

    def overlay(self) -> tuple[str, str]:
        app = self.rng.choice(self.apps)
        return app, f"overlays/{app}/{self.rng.choice(['dev', 'staging', 'prod'])}"

    def append(self, rel: str, text: str) -> None:
        path = self.repo / rel
        path.write_text(path.read_text() + text)

    def write(self, rel: str, text: str) -> None:
        path = self.repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def new_name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}{self.count}"

    # --- the edits ---------------------------------------------------------------------
    def edit_patch_in_place(self) -> str:
        rel = self.rng.choice(self.patches)
        text = (self.repo / rel).read_text()
        hostile = POD_SPEC in text
        self.write(rel, text.replace(POD_SPEC, HOST_PID) if hostile
                   else text.replace(HOST_PID, POD_SPEC))
        return f"toggle hostPID in {rel}"

    def through_transformer(self) -> str:
        app, overlay = self.overlay()
        kind, name = self.workload(app)
        tname = self.new_name("tr")
        self.write(f"{overlay}/{tname}.yaml",
                   f"apiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: {tname}\n"
                   f"path: patches/{tname}.yaml\ntarget:\n  kind: {kind}\n  name: {name}\n")
        self.write(f"{overlay}/patches/{tname}.yaml", patch_text(kind, name, False))
        self.append(f"{overlay}/kustomization.yaml", f"transformers:\n  - {tname}.yaml\n")
        self.patches.append(f"{overlay}/patches/{tname}.yaml")
        return f"transformer config in {overlay}"

    def through_escaped_path(self) -> str:
        app, overlay = self.overlay()
        kind, name = self.workload(app)
        pname = self.new_name("esc")
        self.write(f"{overlay}/patches/{pname}.yaml", patch_text(kind, name, False))
        text = (self.repo / overlay / "kustomization.yaml").read_text()
        self.write(f"{overlay}/kustomization.yaml", text.replace(
            "patches:\n", f'patches:\n  - path: "patches/{pname}\\x2eyaml"\n', 1))
        self.patches.append(f"{overlay}/patches/{pname}.yaml")
        return f"escaped patch path in {overlay}"

    def shared_component(self) -> str:
        rel = "components/pod-defaults/kustomization.yaml"
        text = (self.repo / rel).read_text()
        marker = "# kustodian-test: toggled\n"
        self.write(rel, text.replace(marker, "") if marker in text else text + marker)
        return "comment in the shared Component"

    def base_edit(self) -> str:
        app = self.rng.choice(self.apps)
        rel = f"base/{app}/workload.yaml"
        text = (self.repo / rel).read_text()
        if "      hostNetwork: true\n" in text:
            text = text.replace("      hostNetwork: true\n", "")
        else:
            text = text.replace("    spec:\n", "    spec:\n      hostNetwork: true\n", 1)
        self.write(rel, text)
        return f"toggle hostNetwork in {rel}"

    def component_dir(self) -> str:
        app = self.rng.choice(self.apps)
        kind, name = self.workload(app)
        rel = f"overlays/{app}/{self.new_name('dev-debug')}"     # dev: its env
        self.write(f"{rel}/kustomization.yaml",
                   "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
                   f"namespace: {app}-dev\nresources: [../../../base/{app}]\n"
                   "patches:\n  - path: p.yaml\n")
        self.write(f"{rel}/p.yaml", patch_text(kind, name, True))
        self.patches.append(f"{rel}/p.yaml")
        return f"new Component dir {rel}"

    def symlinked_dir(self) -> str:
        app, overlay = self.overlay()
        rel = f"overlays/{app}/{self.new_name('prod-linked')}"   # prod: its env
        os.symlink(os.path.basename(overlay), self.repo / rel)
        return f"symlink {rel} -> {overlay}"

    def plain_file(self) -> str:
        rel = f"manifests/{self.new_name('pod')}.yaml"
        self.write(rel, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: debug\n  namespace: x\n"
                        "spec:\n  hostIPC: true\n  containers:\n    - name: c\n"
                        "      image: busybox\n")
        return f"plain manifest {rel}"

    def chart_application(self) -> str:
        """A Helm chart no Application renders (a full check renders it with its default
        values) whose template assembles an Application's apiVersion at render time: the
        Application deploys a dir nothing else reads, which later edits toggle."""
        app, _ = self.overlay()
        kind, name = self.workload(app)
        gen = self.new_name("gen")
        deployed = f"overlays/{app}/dev/{gen}"       # inside a kustomization tree, unread
        self.write(f"{deployed}/workload.yaml", patch_text(kind, name, False))
        self.patches.append(f"{deployed}/workload.yaml")
        chart = f"charts/{gen}/dev"                   # dev: its env
        self.write(f"{chart}/Chart.yaml", f"apiVersion: v2\nname: {gen}\nversion: 0.1.0\n")
        self.write(f"{chart}/templates/app.yaml",
                   '{{ printf "apiVersion: %s.io/v1alpha1" "argoproj" }}\n'
                   f"kind: Application\nmetadata:\n  name: {gen}\n  namespace: argocd\n"
                   f"spec:\n  project: default\n  source:\n    repoURL: {REPO_URL}\n"
                   f"    path: {deployed}\n  destination:\n"
                   f"    server: https://kubernetes.default.svc\n    namespace: {app}-dev\n")
        return f"chart {chart} generating an Application for {deployed}"

    def comment(self) -> str:
        _, overlay = self.overlay()
        self.append(f"{overlay}/kustomization.yaml", f"# note {self.count}\n")
        self.count += 1
        return f"comment in {overlay}"

    def random_edit(self) -> str:
        edits = [self.edit_patch_in_place, self.through_transformer, self.through_escaped_path,
                 self.shared_component, self.base_edit, self.component_dir,
                 self.symlinked_dir, self.plain_file, self.chart_application, self.comment]
        return self.rng.choice(edits)()


def test_pr_mode_agrees_with_full_checks(tmp_path: Path, repo_root: Path) -> None:
    seed = int(os.environ.get("KUSTODIAN_PR_SEED", "20261206"))
    rng = random.Random(seed)
    repo = tmp_path / "mono"
    subprocess.run([sys.executable, str(repo_root / "bench/gen_monorepo.py"), "--apps", "1",
                    "--out", str(repo), "--git", "--violation-rate", "0"], check=True,
                   capture_output=True)
    git(repo, "remote", "add", "origin", REPO_URL)   # Applications naming it deploy from it
    editor = Editor(repo, rng)
    _, before = check(repo)
    history = []
    for round_ in range(5):
        base = git(repo, "rev-parse", "HEAD").strip()
        edits = [editor.random_edit() for _ in range(rng.choice([1, 1, 2]))]
        if round_ == 0:                   # an Application the text of no file names
            edits.append(editor.chart_application())
        if round_ in (1, 3):              # a second PR editing only what an earlier one wired
            edits.append(editor.edit_patch_in_place())
        history.append(edits)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "--allow-empty", "-m", "; ".join(edits))
        _, after = check(repo)
        pr_code, pr_new = check(repo, "--base-ref", base, "--new-only")
        expected = after - before
        where = f"seed {seed}, round {round_}: {history}"
        assert pr_new == expected, where
        assert (pr_code == 1) == bool(expected), where
        before = after
    print(f"seed {seed}: {history}")      # shown with -s / on failure
