"""3. Remote and outside content is refused, renders run offline and bounded.

What kustomize fetches at check time (http(s), git, `file://`) can change after review, can
read outside the repository into the report, and can hang the check. Such references are a
finding (`remote-resource`, with the URL) and the overlay is not rendered; a host the repo
config allows must still be pinned to a commit or digest. kustomize itself runs with no
network (proxies at a closed port, no git on PATH) and a time bound."""

from __future__ import annotations

import os
import time

import pytest
from kustodian.kustomize.build import render
from kustodian.remote import immutable, scan
from support.processes import require_tool

SHA = "0123456789abcdef0123456789abcdef01234567"


def _add_resource(repo, ref: str) -> None:
    kfile = repo.root / "overlays/dev/kustomization.yaml"
    kfile.write_text(kfile.read_text().replace("resources:\n", f"resources:\n  - {ref}\n", 1))


@pytest.mark.parametrize("ref", [
    "http://10.255.255.1/agent/privileged.yaml",                 # never answers
    "https://github.com/acme/evil//deploy?ref=main",
    "file:///etc",
])
def test_remote_resource_is_refused_on_a_clone(scratch, ref):
    _add_resource(scratch, ref)
    scratch.commit("remote resource")
    started = time.monotonic()
    for run in (scratch.full(), scratch.pr()):
        assert run.returncode == 1, run.stderr
        [hit] = run.of("remote-resource")
        assert ref in hit["message"] and hit["file"] == "overlays/dev/kustomization.yaml"
        assert hit["line"] == 8 and hit["severity"] == "high"
    assert time.monotonic() - started < 120      # no fetch, no 300 s hang


def test_allow_list_needs_an_immutable_ref(tmp_path):
    (tmp_path / "kustomization.yaml").write_text(
        "resources:\n"
        "  - https://github.com/acme/base//deploy?ref=main\n"
        f"  - https://github.com/acme/base//deploy?ref={SHA}\n"
        "  - https://gitlab.com/acme/base//deploy?ref=" + SHA + "\n"
        "  - oci://ghcr.io/acme/base@sha256:" + "a" * 64 + "\n")
    found = {r.ref: (r.allowed, r.why) for r in scan(tmp_path, tmp_path,
                                                     frozenset({"github.com", "ghcr.io"}))}
    assert [v[0] for v in found.values()] == [False, True, False, True]
    assert "immutable" in found["https://github.com/acme/base//deploy?ref=main"][1]
    assert immutable(f"https://raw.githubusercontent.com/acme/x/{SHA}/a.yaml")
    assert not immutable("https://raw.githubusercontent.com/acme/x/main/a.yaml")


def test_a_path_leaving_the_repository_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "kustomization.yaml").write_text("resources: []\n")
    repo = tmp_path / "repo"
    (repo / "overlays/dev").mkdir(parents=True)
    (repo / "overlays/dev/kustomization.yaml").write_text("resources:\n  - ../../../outside\n")
    (repo / "overlays/dev/link").symlink_to(outside)
    [ref] = scan(repo / "overlays/dev", repo)
    assert ref.why == "leaves the repository" and not ref.allowed


def test_kustomize_renders_offline_and_fails_fast(tmp_path):
    """Even a remote reference the pre-check let through is never fetched."""
    (tmp_path / "kustomization.yaml").write_text(
        "resources:\n  - https://raw.githubusercontent.com/kubernetes/website/main/"
        "content/en/examples/pods/simple-pod.yaml\n")
    started = time.monotonic()
    result = render(tmp_path, "remote", require_tool("kustomize"))
    assert result.error is not None and time.monotonic() - started < 30


def test_a_render_that_never_ends_is_an_error_in_bounded_time(tmp_path, monkeypatch):
    os.mkfifo(tmp_path / "pipe.yaml")          # kustomize blocks reading it forever
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - pipe.yaml\n")
    # the smallest bound the operator can set (whole seconds): the test waits it out
    monkeypatch.setenv("KUSTODIAN_RENDER_TIMEOUT_S", "1")
    started = time.monotonic()
    result = render(tmp_path, "hang", require_tool("kustomize"))
    assert "did not finish within 1s" in str(result.error)
    assert 1 <= time.monotonic() - started < 15
