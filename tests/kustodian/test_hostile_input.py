"""Hostile input must end in a clear error, never a crash or an unbounded read: deep nesting
(the C loader and yaml-rs recurse per level and segfault), files that are devices or lie
outside the repository, merge keys that Kubernetes reads differently from YAML 1.1."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from kustodian import yamlio
from kustodian.errors import KustodianError
from support.cli import kustodian

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: apps
spec:
  containers:
  - name: c
    image: registry.example/app@sha256:{digest}
{extra}"""
DIGEST = "a" * 64


def _deep_texts() -> dict[str, str]:
    n = 100_000
    return {
        "flow": "a: " + "[" * n + "]" * n + "\n",
        "flow-with-quoted-closers": "a: " + '["]",' * n + "\n",
        "compact-block-sequences": "- " * n + "x\n",
        "flow-mappings": "a: " + "{b: " * n + "1" + "}" * n + "\n",
    }


@pytest.mark.parametrize("shape", sorted(_deep_texts()))
def test_deep_nesting_is_an_error_not_a_segfault(tree, shape: str) -> None:
    """100k levels used to overflow the C stack (exit 139, no report at all)."""
    root = tree({})
    (root / "deep.yaml").write_text(_deep_texts()[shape], encoding="utf-8")
    run = kustodian("check", "--no-schema", "--no-conftest", "deep.yaml", cwd=root, timeout=120)
    assert run.returncode == 2, (run.returncode, run.stdout[-500:], run.stderr[-500:])
    assert "nested more than" in run.stdout + run.stderr
    assert "deep.yaml:1" in run.stdout + run.stderr


def test_nesting_limit_is_checked_before_any_loader() -> None:
    for shape, text in _deep_texts().items():
        with pytest.raises(KustodianError, match="nested more than"):
            yamlio.load_documents(text, shape)
        with pytest.raises(KustodianError, match="nested more than"):
            yamlio.load_documents(text, shape, strict=False)   # rendered output too
    assert yamlio.compose_text(_deep_texts()["flow"]) is None


def test_ordinary_depth_and_many_empty_collections_load() -> None:
    """The cheap bound must not refuse real manifests (empty `{}`/`[]` everywhere, CRD
    schemas a few dozen levels deep)."""
    many = "".join(f"k{i}: {{}}\nl{i}: []\n" for i in range(5000))
    assert len(yamlio.load_documents(many, "many")[0][1]) == 10000
    nested = "a: " + "[" * 150 + "]" * 150 + "\n"
    assert yamlio.load_documents(nested, "nested")
    block = "".join(" " * (2 * i) + f"k{i}:\n" for i in range(120)) + " " * 240 + "v: 1\n"
    assert yamlio.load_documents(block, "block")


def test_alias_bomb_is_still_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(KustodianError, match="alias bomb"):
        yamlio.load_documents("\n".join(lines) + "\n", "bomb.yaml")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_kustomization_symlinked_to_dev_zero_is_not_read(tree) -> None:
    """Its size is 0, so the size check passed and the read never ended."""
    root = tree({"overlays/dev/.keep": ""})
    (root / "overlays/dev/kustomization.yaml").symlink_to("/dev/zero")
    run = kustodian("check", "--no-schema", "--no-conftest", cwd=root, timeout=60)
    assert run.returncode == 2
    assert "overlays/dev" in run.stdout + run.stderr


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_manifest_that_is_a_device_or_a_fifo_is_an_error(tree) -> None:
    """A FIFO in the tree used to block the check forever; /dev/zero to read without end."""
    for name, expected in (("zero.yaml", "outside the repository"),
                           ("pipe.yaml", "not a regular file")):
        root = tree({"manifests/ok.yaml": POD.format(digest=DIGEST, extra="")})
        if name == "zero.yaml":
            (root / "manifests" / name).symlink_to("/dev/zero")
        else:
            os.mkfifo(root / "manifests" / name)
        run = kustodian("check", "--no-schema", "--no-conftest", "manifests", cwd=root,
                      timeout=60)
        assert run.returncode == 2
        assert expected in run.stdout + run.stderr, run.stdout + run.stderr
        (root / "manifests" / name).unlink()
    with pytest.raises(KustodianError, match="not a regular file"):
        yamlio.read_text("/dev/zero", "zero.yaml")


def test_a_manifest_symlinked_outside_the_repository_is_not_read(tree, tmp_path_factory
                                                                 ) -> None:
    outside = tmp_path_factory.mktemp("outside") / "secret.yaml"
    outside.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leaked-key-name}\n",
                       encoding="utf-8")
    root = tree({"manifests/ok.yaml": POD.format(digest=DIGEST, extra="")})
    (root / "manifests/link.yaml").symlink_to(outside)
    run = kustodian("check", "--no-schema", "--no-conftest", "--format", "json", "manifests",
                  cwd=root, timeout=60)
    assert run.returncode == 2
    assert "outside the repository" in run.stdout + run.stderr
    assert "leaked-key-name" not in run.stdout + run.stderr


def test_a_report_path_planted_as_a_symlink_is_replaced_not_written_through(tree) -> None:
    """CI writes the report into the pull request's checkout. A link the pull request plants
    at that path, to a file of the repository (here an executable script the pipeline runs
    next), is replaced by the report: the script keeps its content and mode, and the report
    takes neither."""
    script_text = "#!/bin/sh\necho trusted\n"
    root = tree({"manifests/ok.yaml": POD.format(digest=DIGEST, extra=""),
                 "hack/deploy.sh": script_text})
    script = root / "hack/deploy.sh"
    script.chmod(0o755)
    report = root / "report.json"
    report.symlink_to("hack/deploy.sh")
    run = kustodian("check", "--no-schema", "--no-conftest", "--format", "json", "--output",
                    "report.json", "manifests", cwd=root, timeout=60)
    assert run.returncode in (0, 1), run.stdout + run.stderr
    assert script.read_text(encoding="utf-8") == script_text
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    assert not report.is_symlink() and stat.S_IMODE(report.stat().st_mode) == 0o644
    assert isinstance(json.loads(report.read_text(encoding="utf-8")), dict)


def test_a_report_path_linked_outside_the_repository_stops_the_gate(tree, tmp_path_factory
                                                                    ) -> None:
    """The same link to a file outside the checkout is a link the gate refuses: a clear
    error, nothing written, the file it points at untouched."""
    outside = tmp_path_factory.mktemp("runner") / "hook.sh"
    outside.write_text("#!/bin/sh\n", encoding="utf-8")
    root = tree({"manifests/ok.yaml": POD.format(digest=DIGEST, extra="")})
    (root / "report.json").symlink_to(outside)
    run = kustodian("check", "--no-schema", "--no-conftest", "--format", "json", "--output",
                    "report.json", "manifests", cwd=root, timeout=60)
    assert run.returncode == 2
    assert "report.json: symlink leads outside the repository" in run.stdout + run.stderr
    assert outside.read_text(encoding="utf-8") == "#!/bin/sh\n"


def test_reads_stop_at_the_limit_even_when_the_size_lies(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: 1\n" * 100)
    with pytest.raises(KustodianError, match="limit"):
        yamlio.read_text(big, "big.yaml", limit=100)
    assert yamlio.read_text(big, "big.yaml", limit=500).count("\n") == 100


# --- merge keys: PyYAML keeps the explicit key, go-yaml v2 (kubectl, Argo CD's plain
# directories through sigs.k8s.io/yaml) applies `<<` in key order and deploys the merged value.

MERGED = POD.format(digest=DIGEST, extra="""\
    securityContext:
      privileged: false
      <<: &priv {privileged: true}
""")


def test_the_merge_key_case_from_the_issue_is_refused_with_file_and_line(tree) -> None:
    root = tree({"manifests/pod.yaml": MERGED})
    run = kustodian("check", "--no-schema", "--no-conftest", "manifests", cwd=root, timeout=60)
    assert run.returncode == 2, run.stdout
    out = run.stdout + run.stderr
    assert "manifests/pod.yaml:12" in out
    assert "merge key" in out and "hint:" in out


@pytest.mark.parametrize("text", [
    "a: &x {b: 1}\nc:\n  <<: *x\n",
    "a: &x {b: 1}\nc: {<<: *x, b: 2}\n",
    "a: &x {b: 1}\nc:\n  <<: [*x]\n",
    "c: {!!merge x: {b: 1}}\n",
    'c: {"<<": {b: 1}}\n',
])
def test_merge_keys_never_take_the_fast_path_and_are_refused(text: str) -> None:
    """The differential guard: yaml-rs (1.2, no merge keys) must never read these."""
    assert yamlio._fast_documents(text) is None
    with pytest.raises(KustodianError, match="merge key"):
        yamlio.load_documents(text, "m.yaml")


def test_node_count_is_bounded_before_loading(monkeypatch) -> None:
    """Millions of tiny nodes in one file cost gigabytes once loaded: counted first."""
    monkeypatch.setattr(yamlio, "MAX_NODES", 10_000)
    text = "a: [" + ",".join("1" for _ in range(20_000)) + "]\n"
    with pytest.raises(KustodianError, match="more than 10000 YAML nodes"):
        yamlio.load_documents(text, "many.yaml")
    assert yamlio.load_documents(text, "rendered", strict=False)   # kustomize output
    assert yamlio.load_documents("a: [1, 2, 3]\n", "small.yaml")


def test_other_yaml_readers_check_the_structure_first() -> None:
    """Kustomization plugin configs and Application-supplied YAML (helm values, a
    kustomization edited for the Application's patches) go through the same guard."""
    from kustodian.argocd import build
    from kustodian.kustomize import model

    deep = _deep_texts()["flow"]
    assert model.parse(deep) is None
    assert model.plugin_config_references(deep.encode(), "transformers") == []
    with pytest.raises(KustodianError, match="nested more than"):
        build._load_one(deep, "values")
    with pytest.raises(KustodianError, match="merge key"):
        build._load_one("a: &x {b: 1}\nc: {<<: *x}\n", "values")
