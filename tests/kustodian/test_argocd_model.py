"""The Argo CD model's pure parts: repository URLs, globs, env choice, ApplicationSet
generators and templates."""

from __future__ import annotations

from pathlib import Path

import pytest
from kustodian.argocd.appset import expand_applicationset
from kustodian.argocd.model import application_env, normalize_repo_url, parse_application
from kustodian.argocd.sources import glob_match
from kustodian.config import RepoConfig
from kustodian.errors import KustodianError


@pytest.mark.parametrize("url", ["https://github.com/Acme/x.git", "git@github.com:Acme/x.git",
                                 "ssh://git@github.com/Acme/x", "https://GitHub.com/Acme/x/"])
def test_repo_urls_compare_after_normalisation(url):
    assert normalize_repo_url(url) == "github.com/Acme/x"


@pytest.mark.parametrize("pattern, path, hit", [
    ("*.yaml", "a/b/c.yaml", True),           # gobwas without separators: * crosses /
    ("{a,b}/*.yml", "b/x.yml", True), ("{a,b}/*.yml", "c/x.yml", False),
    ("[!x]*.json", "y.json", True), ("[!x]*.json", "x.json", False), ("?.yaml", "ab.yaml", False),
])
def test_directory_globs_match_as_argo_cd(pattern, path, hit):
    assert glob_match(pattern, path) is hit


def _app(labels=None, namespace="misc", path="apps/x"):
    return parse_application({"metadata": {"name": "x", "labels": labels or {}},
                              "spec": {"source": {"repoURL": "r", "path": path},
                                       "destination": {"namespace": namespace}}}, "f")


def test_env_the_most_production_like_signal_wins_unless_the_config_says():
    config = RepoConfig(root=Path("."), env_order=["dev", "staging", "prod"])
    assert application_env(_app({"kustodian.io/env": "dev"}, "agent-prod"), "apps/x",
                           config)[0] == "prod"
    assert application_env(_app(path="overlays/prd"), "overlays/prd", config)[0] == "prod"
    assert application_env(_app(), "apps/x", config)[0] is None
    config.applications["x"] = {"env": "staging"}
    assert application_env(_app(namespace="agent-prod"), "apps/x", config)[0] == "staging"


def test_application_needs_a_source():
    with pytest.raises(KustodianError, match="no source"):
        parse_application({"metadata": {"name": "x"}, "spec": {}}, "f")


def _set(generators, template_name="{{name}}", go=False):
    return {"metadata": {"name": "s"}, "spec": {
        "goTemplate": go, "generators": generators,
        "template": {"metadata": {"name": template_name},
                     "spec": {"source": {"repoURL": "r", "path": "p"}}}}}


def test_matrix_and_merge_generators(tmp_path):
    lists = [{"list": {"elements": [{"name": "a", "env": "dev"}, {"name": "b", "env": "dev"}]}},
             {"list": {"elements": [{"env": "dev", "extra": "1"}]}}]
    apps = expand_applicationset(_set([{"matrix": {"generators": lists}}],
                                      "{{name}}-{{extra}}"), tmp_path, frozenset(), "f")
    assert [a["metadata"]["name"] for a in apps] == ["a-1", "b-1"]
    apps = expand_applicationset(_set([{"merge": {"mergeKeys": ["env"], "generators": lists}}],
                                      "{{name}}{{extra}}"), tmp_path, frozenset(), "f")
    assert [a["metadata"]["name"] for a in apps] == ["a1", "b1"]


def test_go_templates_and_refusals(tmp_path):
    (tmp_path / "envs/prod").mkdir(parents=True)
    gen = [{"git": {"repoURL": "https://x/r.git", "directories": [{"path": "envs/*"}]}}]
    apps = expand_applicationset(_set(gen, "app-{{ .path.basename }}", go=True), tmp_path,
                                 frozenset({"x/r"}), "f")
    assert apps[0]["metadata"]["name"] == "app-prod"
    with pytest.raises(KustodianError, match="not evaluated offline"):
        expand_applicationset(_set(gen, "{{ .path.basename | upper }}", go=True), tmp_path,
                              frozenset({"x/r"}), "f")
    with pytest.raises(KustodianError, match="not this repository"):
        expand_applicationset(_set(gen), tmp_path, frozenset({"x/other"}), "f")
    with pytest.raises(KustodianError, match="'pullRequest' generator"):
        expand_applicationset(_set([{"pullRequest": {}}]), tmp_path, frozenset(), "f")
