"""The policy-result cache (kustodian.conftest_runner over kustodian.contentstore), with the
real conftest.

Whether conftest ran is counted by a pass-through script in front of the pinned binary (the
capabilities file copied next to it, where the runner looks): it appends a line to a log and
execs the real conftest with the same arguments, so every evaluation here is a real one.
Every test sets its own KUSTODIAN_RENDER_CACHE (the suite's shared one is not used here).

Covered: cached findings equal evaluated ones and uncached ones (this repository, every
target, with findings of both kinds); each part of the key misses on its own (a policy
file, a data file, the capabilities, the input, its env, its overlay); a run whose files are
all cached starts no conftest; only the files without an entry are evaluated; what conftest
sees (data.conftest.file) is the same in every run; a failed evaluation, impure built-ins
and a symlink in the policy dir are never cached; a corrupt entry is a miss; concurrent runs
share the dir; a cache dir that cannot be created is a clear error.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kustodian.conftest_runner import CAPABILITIES, ConftestInput, run_conftest
from kustodian.contentstore import CACHE_ENV
from kustodian.errors import KustodianError
from support.cli import REPO_PARTS, REPO_ROOT, copy_repo, kustodian
from support.processes import LoggedTool

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures_conftest"


class Counting(LoggedTool):
    """The pinned conftest behind a logging script (see the module doc), with the OPA
    capabilities beside it as conftest_runner looks for them."""

    def __init__(self, directory: Path, real: str) -> None:
        super().__init__(directory, real)
        self.capabilities = directory / CAPABILITIES
        shutil.copy(Path(real).resolve().parent / CAPABILITIES, self.capabilities)

    @property
    def runs(self) -> int:
        return len(self.calls())

    def files(self) -> int:
        """How many input files the runs so far were given."""
        return sum("/staged/" in arg for call in self.calls() for arg in call)


@pytest.fixture
def counting(tmp_path: Path, conftest_bin: str) -> Counting:
    return Counting(tmp_path / "tool", conftest_bin)


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    """A copy of this repository's policies (with its data.yaml) the tests may edit."""
    return Path(shutil.copytree(REPO_ROOT / "policies", tmp_path / "policies"))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """The tree under check (the cache dir is vetted against it)."""
    root = tmp_path / "tree"
    root.mkdir()
    return root


def entries(cache_dir: Path) -> list[Path]:
    directory = cache_dir / "policy-v1"
    return sorted(p for p in directory.iterdir() if p.is_file()) if directory.is_dir() else []


def evil_manifest(tmp_path: Path, image: str = "docker.io/evil/agent:1") -> Path:
    path = tmp_path / "inputs" / "deploy.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: agent, namespace: agent}}
spec:
  template:
    spec:
      containers: [{{name: agent, image: "{image}"}}]
""")
    return path


def inputs_of(tmp_path: Path, env: str = "dev", overlay: str | None = "overlays/dev",
              image: str = "docker.io/evil/agent:1") -> list[ConftestInput]:
    return [ConftestInput(evil_manifest(tmp_path, image), "k8s", env, overlay),
            ConftestInput(FIXTURES / "Dockerfile.bad", "dockerfile"),
            ConftestInput(Path("overlays_dev.yaml"), "k8s", env, overlay,
                          text=(FIXTURES / "k8s-bad.yaml").read_text())]


def check(inputs, policy: Path, counting: Counting, tree: Path) -> list:
    return run_conftest(inputs, policy_dir=policy, conftest_bin=counting.path, tree=tree)


def test_a_hit_returns_the_findings_of_an_evaluation(tmp_path, cache_dir, counting, policy,
                                                     tree):
    inputs = inputs_of(tmp_path)
    uncached = run_conftest(inputs, policy_dir=policy, conftest_bin=counting.path)
    assert counting.runs == 2 and entries(cache_dir) == []
    first = check(inputs, policy, counting, tree)
    assert counting.runs == 4 and len(entries(cache_dir)) == 3
    again = check(inputs, policy, counting, tree)
    assert counting.runs == 4, "every file had an entry: no conftest may start"
    assert first == again == uncached
    rules = {f.rule for f in first}
    assert "allowed-registries" in rules and any(r.startswith("dockerfile-") for r in rules)
    lines = {(f.file, f.line) for f in first if f.file}
    assert ("tests/kustodian/fixtures_conftest/Dockerfile.bad", 1) in lines \
        or any(file == "tests/kustodian/fixtures_conftest/Dockerfile.bad" for file, _ in lines)


@pytest.mark.parametrize("change", ["policy", "data", "capabilities", "input", "env",
                                    "overlay", "new-policy-file"])
def test_each_part_of_the_key_misses(tmp_path, cache_dir, counting, policy, tree, change):
    inputs = inputs_of(tmp_path)
    check(inputs, policy, counting, tree)
    runs, files = counting.runs, counting.files()
    check(inputs, policy, counting, tree)
    assert (counting.runs, counting.files()) == (runs, files)
    if change == "policy":
        rego = policy / "k8s" / "registries.rego"
        rego.write_text(rego.read_text() + "\n# an edit\n")
    elif change == "new-policy-file":
        (policy / "k8s" / "extra.json").write_text('{"unused": true}\n')
    elif change == "data":
        data = policy / "data.yaml"
        data.write_text(data.read_text() + "\n# an edit\n")
    elif change == "capabilities":
        caps = json.loads(counting.capabilities.read_text())
        caps["builtins"] = [b for b in caps["builtins"] if b["name"] != "graphql.parse"]
        counting.capabilities.write_text(json.dumps(caps))
    elif change == "input":
        inputs = inputs_of(tmp_path, image="docker.io/evil/agent:2")
    elif change == "env":
        inputs = inputs_of(tmp_path, env="prod")
    else:
        inputs = inputs_of(tmp_path, overlay="overlays/dev-canary")
    found = check(inputs, policy, counting, tree)
    if change == "input":         # only the changed file is evaluated again
        assert counting.runs == runs + 1 and counting.files() == files + 1
    elif change in ("env", "overlay"):
        # the plain manifest and the render, not the Dockerfile (one conftest, k8s kind)
        assert counting.runs == runs + 1 and counting.files() == files + 2
    else:
        assert counting.runs == runs + 2 and counting.files() == files + 3
    if change == "env":
        assert {f.env for f in found if f.source == "conftest" and f.kind} == {"prod"}
    if change == "overlay":
        assert "overlays/dev-canary" in {f.overlay for f in found}


def test_conftest_sees_the_same_file_every_run(tmp_path, cache_dir, counting, tree,
                                               monkeypatch):
    """What a policy can read of the file under test (data.conftest.file, its entry in
    data.kustodian.inputs) is part of the key, so it must not change from run to run."""
    policy = tmp_path / "echo"
    policy.mkdir()
    (policy / "echo.rego").write_text(
        "package main\nimport rego.v1\n"
        "deny contains sprintf(\"%s/%s %v\", [data.conftest.file.dir, data.conftest.file.name,"
        " data.kustodian.inputs[concat(\"/\", [data.conftest.file.dir,"
        " data.conftest.file.name])]]) if true\n")
    seen = []
    for run in range(2):
        text = (FIXTURES / "k8s-good.yaml").read_text()
        monkeypatch.setenv("TMPDIR", str(tmp_path / f"tmp{run}"))
        (tmp_path / f"tmp{run}").mkdir()
        findings = run_conftest([ConftestInput(Path("overlays_dev.yaml"), "k8s", "dev",
                                                "overlays/dev", text=text)],
                                 policy_dir=policy, conftest_bin=counting.path, tree=tree)
        [message] = {f.message for f in findings}
        seen.append(message)
        shutil.rmtree(cache_dir)                # evaluate again, in a new temp dir
    assert seen[0] == seen[1]
    assert seen[0].startswith(str(cache_dir.resolve())) and "/overlays_dev.yaml " in seen[0]
    assert '"env": "dev"' in seen[0] and '"overlay": "overlays/dev"' in seen[0]


def test_failed_evaluations_are_never_cached(tmp_path, cache_dir, counting, tree):
    policy = tmp_path / "broken"
    policy.mkdir()
    (policy / "broken.rego").write_text("package main\n\ndeny contains msg if {\n")
    for _ in range(2):
        with pytest.raises(KustodianError, match="conftest failed"):
            check(inputs_of(tmp_path), policy, counting, tree)
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Service\nmetadata: {name: [unclosed\n")
    for _ in range(2):
        with pytest.raises(KustodianError, match=str(bad)):
            check([ConftestInput(bad, "k8s")], REPO_ROOT / "policies", counting, tree)
    assert counting.runs == 2 + 2 and entries(cache_dir) == []


def test_the_installed_capabilities_pass_the_rule_they_were_written_by(conftest_bin):
    """`make setup` writes the capabilities with kustodian.capabilities.restrict, and the
    cache keeps results only when the file satisfies the same rule: a file that drifted
    would quietly turn the cache off, one that allowed an impure built-in must."""
    from kustodian.capabilities import allowed, only_allowed

    installed = json.loads((Path(conftest_bin).resolve().parent / CAPABILITIES).read_text())
    assert only_allowed(installed) and installed["allow_net"] == []
    names = {b["name"] for b in installed["builtins"]}
    assert not names & {"http.send", "opa.runtime", "time.now_ns", "rand.intn",
                        "net.lookup_ip_addr", "crypto.x509.parse_and_verify_certificates"}
    assert {"sprintf", "regex.match", "startswith"} <= names
    assert not allowed({"name": "io.jwt.decode_verify"}) and not only_allowed({})


@pytest.mark.parametrize("impure", ["nondeterministic-builtin", "x509-verify", "symlink"])
def test_what_cannot_be_keyed_is_evaluated_every_time(tmp_path, cache_dir, counting, policy,
                                                      tree, impure):
    caps = json.loads(counting.capabilities.read_text())
    if impure == "nondeterministic-builtin":
        caps["builtins"].append({"name": "time.now_ns", "decl": {
            "type": "function", "result": {"type": "number"}}, "nondeterministic": True})
    elif impure == "x509-verify":
        caps["builtins"].append({"name": "crypto.x509.parse_and_verify_certificates", "decl": {
            "type": "function", "args": [{"type": "string"}], "result": {"type": "any"}}})
    else:
        (policy / "k8s" / "link.yaml").symlink_to(policy / "data.yaml")
    counting.capabilities.write_text(json.dumps(caps))
    inputs = [ConftestInput(FIXTURES / "Dockerfile.bad", "dockerfile")]
    first = check(inputs, policy, counting, tree)
    assert check(inputs, policy, counting, tree) == first
    assert counting.runs == 2 and entries(cache_dir) == []


@pytest.mark.parametrize("damage", ["truncate", "flip_a_byte", "empty", "not-json"])
def test_a_corrupt_entry_is_a_miss_and_is_rewritten(tmp_path, cache_dir, counting, tree,
                                                    damage):
    inputs = [ConftestInput(FIXTURES / "Dockerfile.bad", "dockerfile")]
    policy = REPO_ROOT / "policies"
    found = check(inputs, policy, counting, tree)
    [entry] = entries(cache_dir)
    data = entry.read_bytes()
    if damage == "not-json":     # a valid checksum over a body that is not a result list
        import hashlib
        body = b"{}"
        head = data.partition(b" ")[0] + b" " + hashlib.sha256(body).hexdigest().encode()
        entry.write_bytes(head + b"\n" + body)
    else:
        entry.write_bytes({"truncate": data[:len(data) // 2], "empty": b"",
                           "flip_a_byte": data[:-5] + b"X" + data[-4:]}[damage])
    assert check(inputs, policy, counting, tree) == found and counting.runs == 2
    assert entry.read_bytes() == data
    assert check(inputs, policy, counting, tree) == found and counting.runs == 2


def test_concurrent_runs_share_the_cache(tmp_path, cache_dir, counting, tree):
    """Six runs over the same files at once: each gets the same findings, one valid entry
    per file remains, no temp file is left behind; a seventh run starts no conftest."""
    inputs = inputs_of(tmp_path)
    policy = REPO_ROOT / "policies"
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: check(inputs, policy, counting, tree), range(6)))
    assert all(r == results[0] for r in results)
    assert len(entries(cache_dir)) == 3
    assert not [p for p in (cache_dir / "policy-v1").rglob(".tmp-*")]
    runs = counting.runs
    assert check(inputs, policy, counting, tree) == results[0] and counting.runs == runs


def test_a_cache_dir_that_cannot_be_made_is_a_clear_error(tmp_path, monkeypatch):
    repo = copy_repo(tmp_path / "repo", ("policies", ".kustodian.yaml", "base"))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))
    run = kustodian("check", "base", cwd=repo)
    assert run.returncode == 2, run.stdout + run.stderr
    out = run.stdout + run.stderr
    assert "cannot create the render cache dir" in out and CACHE_ENV in out
    assert "Traceback" not in out


def test_a_stage_that_cannot_be_written_is_a_clear_error(tmp_path, cache_dir, counting, tree):
    (cache_dir / "policy-v1").mkdir(parents=True)
    (cache_dir / "policy-v1" / "staged").write_text("not a dir")
    with pytest.raises(KustodianError, match="cannot write conftest's inputs") as err:
        check(inputs_of(tmp_path), REPO_ROOT / "policies", counting, tree)
    assert "KUSTODIAN_RENDER_CACHE" in str(err.value.hint)
    assert counting.runs == 0


def test_this_repository_cached_and_not(tmp_path, monkeypatch):
    """Every target of a scratch copy of this repository, with findings from Kubernetes
    policies (an overlay's render and a plain manifest) and from the Dockerfile policies:
    the same report without a cache, with a cold one and with a warm one."""
    repo = copy_repo(tmp_path / "repo", (*REPO_PARTS, "argocd", "Dockerfile"))
    kfile = repo / "overlays/dev/kustomization.yaml"
    kfile.write_text(kfile.read_text() + "images:\n  - name: ghcr.io/acme/agent\n"
                     "    newName: docker.io/evil/agent\n")
    dockerfile = repo / "Dockerfile"
    dockerfile.write_text("FROM evil/base:latest AS evil\n" + dockerfile.read_text())
    reports = []
    for cache in ("", str(tmp_path / "cache"), str(tmp_path / "cache")):
        monkeypatch.setenv(CACHE_ENV, cache)
        run = kustodian("check", "--format", "json", cwd=repo)
        assert run.returncode == 1, run.stderr
        report = json.loads(run.stdout)
        report["summary"].pop("timings", None)
        reports.append(report)
    assert reports[0] == reports[1] == reports[2]
    rules = {f["rule"] for f in reports[0]["findings"]}
    assert "allowed-registries" in rules
    assert [f for f in reports[0]["findings"] if f["file"] == "Dockerfile"
            and f["rule"].startswith("dockerfile-") and f["line"] == 1]
    assert entries(tmp_path / "cache")
