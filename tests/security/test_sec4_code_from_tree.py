"""4. Nothing from the checked tree executes.

The gate's tools come from its own install dir (never a `.bin/` committed to the checked
repository or a relative PATH entry), conftest evaluates Rego with an OPA capabilities file
without http.send, net.*, opa.runtime and the other non-deterministic built-ins, and the
pull-request workflow runs the base branch's gate with the PR's files as data."""

from __future__ import annotations

import http.server
import stat
import threading

import pytest
import yaml
from kustodian.kustomize.build import TOOL_HOME, find_tool
from support.cli import REPO_ROOT, git

HOSTILE_TOOL = """#!/bin/sh
echo ran > "{marker}"
cat <<'END'
apiVersion: v1
kind: Pod
metadata: {{name: evil}}
spec: {{containers: [{{name: c, image: x, securityContext: {{privileged: true}}}}]}}
END
"""


@pytest.mark.parametrize("tool", ["kustomize", "conftest"])
def test_a_committed_tool_is_never_run(scratch, tmp_path, tool):
    marker = tmp_path / f"{tool}-ran"
    path = scratch.write(f".bin/{tool}", HOSTILE_TOOL.format(marker=marker))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    scratch.commit(f"ship a {tool}")                  # git add -f: .bin/ is ignored
    full, pr = scratch.full(), scratch.pr()
    assert not marker.exists(), f"the committed .bin/{tool} was executed"
    assert full.returncode == 0, full.stderr + str(full.rules())
    # PR mode runs clean too, and reports the committed tool as a change to the gate
    assert pr.rules() == {"gate-config-changed"}, pr.stderr
    assert [f["file"] for f in pr.of("gate-config-changed")] == [f".bin/{tool}"]


def test_tool_lookup_skips_the_checked_tree_and_relative_path(tmp_path, monkeypatch):
    tree = tmp_path / "tree"
    (tree / ".bin").mkdir(parents=True)
    fake = tree / ".bin" / "kustodian-probe-tool"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.chdir(tree)
    monkeypatch.setenv("PATH", f".bin:{tree / '.bin'}")
    assert find_tool("kustodian-probe-tool", tree) is None
    assert find_tool("kustomize", tree) == str(TOOL_HOME / ".bin" / "kustomize")


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        _Recorder.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def do_POST(self) -> None:
        self.do_GET()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def listener():
    """A real HTTP server on a free loopback port, recording every request."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


LEAK = """
package main

import rego.v1

deny contains msg if {
  resp := http.send({"method": "get", "url": "URL/leak"})
  msg := sprintf("%v %v", [resp.status_code, opa.runtime().env.KUSTODIAN_PROBE_SECRET])
}
"""


def test_rego_cannot_send_or_read_the_environment(scratch, listener, monkeypatch):
    monkeypatch.setenv("KUSTODIAN_PROBE_SECRET", "s3cr3t-value")
    scratch.write("policies/leak.rego", LEAK.replace("URL", listener))
    scratch.commit("a policy")
    run = scratch.full()
    assert _Recorder.hits == []
    assert "s3cr3t-value" not in run.stderr + str(run.report)
    assert run.returncode == 2 and "http.send" in run.stderr, run.stderr


# Built-ins whose answer is not a function of the policy, data and input: what a JSON
# schema's $ref names (resolved by the built-in), a certificate chain checked against the
# clock. The capabilities remove them (kustodian.capabilities): a PR's Rego that calls one is
# refused, it can neither read what the gate can reach nor give the policy cache a result
# that depends on it.
OUTSIDE = {
    "json.match_schema": """
package main

import rego.v1

deny contains msg if {
  [ok, errors] := json.match_schema({"a": 1}, {"$ref": "file:///etc/passwd"})
  msg := sprintf("%v %v", [ok, errors])
}
""",
    "crypto.x509.parse_and_verify_certificates": """
package main

import rego.v1

deny contains msg if {
  [valid, certs] := crypto.x509.parse_and_verify_certificates("")
  msg := sprintf("%v %v", [valid, count(certs)])
}
""",
}


@pytest.mark.parametrize("builtin", sorted(OUTSIDE))
def test_rego_cannot_read_files_or_the_clock(scratch, builtin):
    scratch.write("policies/outside.rego", OUTSIDE[builtin])
    scratch.commit("a policy")
    run = scratch.full()
    assert run.returncode == 2 and builtin in run.stderr, run.stderr
    assert "root:" not in run.stderr + str(run.report)


def test_the_pr_workflow_runs_trusted_code_with_the_pr_as_data():
    text = (REPO_ROOT / ".github/workflows/pr.yaml").read_text()
    workflow = yaml.safe_load(text)
    triggers = workflow.get("on") or workflow.get(True)
    assert set(triggers) == {"pull_request_target"}
    assert workflow["permissions"] == {}
    steps = workflow["jobs"]["gate"]["steps"]
    checkouts = [s for s in steps if str(s.get("uses", "")).startswith("actions/checkout@")]
    base, head = checkouts
    assert base["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    assert base["with"]["path"] == "gate" and base["with"]["persist-credentials"] is False
    assert head["with"]["ref"] == "${{ github.event.pull_request.head.sha }}"
    assert head["with"]["path"] == "pr" and head["with"]["persist-credentials"] is False
    for step in steps:
        # nothing from the PR checkout is executed: no make, script or install in pr/
        assert not str(step.get("working-directory", "")).startswith("pr"), step
        for line in str(step.get("run", "")).splitlines():
            assert not line.strip().startswith(("pr/", "./pr/", "make -C pr", "cd pr")), line
    assert "secrets." not in text
    codeowners = (REPO_ROOT / ".github/CODEOWNERS").read_text()
    for path in ("/.kustodian.yaml", "/policies/", "/tools/", "/.github/", "/Makefile"):
        assert path in codeowners


MARKER_SCRIPT = """#!/bin/sh
echo "$0 $* $(tr "\\0" " " < /proc/$PPID/cmdline)" >> "{marker}"
"""


def test_the_clones_git_config_runs_no_program(scratch, tmp_path):
    """A checkout's .git/config comes from whoever prepared the clone: the programs it names
    (fsmonitor, external diff, hooks, pager, filter and diff drivers the PR's .gitattributes
    selects) never run in a full check or in PR mode."""
    marker = tmp_path / "git-config-ran"
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    program = tmp_path / "program"
    program.write_text(MARKER_SCRIPT.format(marker=marker))
    program.chmod(0o755)
    for hook in ("post-index-change", "pre-auto-gc", "reference-transaction"):
        (hooks / hook).write_text(MARKER_SCRIPT.format(marker=marker))
        (hooks / hook).chmod(0o755)
    scratch.write(".gitattributes", "* filter=run diff=run\n*.yaml filter=a=b\n")
    scratch.commit("attributes naming the clone's drivers")
    for key, value in (("core.fsmonitor", str(program)), ("diff.external", str(program)),
                       ("core.pager", str(program)), ("core.hooksPath", str(hooks)),
                       ("filter.run.clean", str(program)), ("filter.run.process", str(program)),
                       ("filter.run.smudge", str(program)), ("filter.a=b.clean", str(program)),
                       ("filter.run.required", "true"), ("diff.run.textconv", str(program)),
                       ("diff.run.command", str(program))):
        git(scratch.root, "config", key, value)
    # a change to a manifest (diffed renders) and to the gate's config (its diff is shown),
    # left unstaged and stat-dirty, so git refreshes the index
    deployment = next(scratch.root.glob("overlays/prod/**/*.yaml"))
    deployment.write_text(deployment.read_text() + "\n# changed\n")
    config = scratch.root / ".kustodian.yaml"
    config.write_text(config.read_text() + "\n# changed\n")
    pr = scratch.run("--base-ref", "main", "--new-only", "--summary", ".summary.md")
    assert not marker.exists(), marker.read_text()
    assert "gate-config-changed" in pr.rules(), pr.stderr
    assert "# changed" in pr.summary
    full = scratch.full()
    assert not marker.exists(), marker.read_text()
    assert full.report, full.stderr
