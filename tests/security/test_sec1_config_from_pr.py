"""1. The pull request cannot reconfigure the gate that judges it.

In PR mode the gate's configuration (`.kustodian.yaml`: env mapping, profiles, exemption
limits, remote allow-list) and policies (Rego and data) come from the base revision, for
both sides of the comparison. The PR's versions are judged, not obeyed: each changed gate
file is a `gate-config-changed` finding (severity high, with the diff in the summary) that
a code owner must approve (.github/CODEOWNERS)."""

from __future__ import annotations


def _gate_changed(run, path: str) -> dict:
    [hit] = [f for f in run.of("gate-config-changed") if f["file"] == path]
    assert hit["severity"] == "high" and hit["status"] == "new"
    return hit


def _evil_registry_in_dev(scratch) -> None:
    """dev's agent image from a registry the base's policy does not allow."""
    kfile = scratch.root / "overlays/dev/kustomization.yaml"
    kfile.write_text(kfile.read_text() + "images:\n  - name: ghcr.io/acme/agent\n"
                     "    newName: docker.io/evil/agent\n")


def _evil_registry_flagged(run) -> None:
    assert run.returncode == 1, run.stderr
    assert [f for f in run.of("allowed-registries") if "docker.io/evil" in f["message"]]


def test_profiles_from_the_pr_are_not_obeyed(scratch):
    config = scratch.root / ".kustodian.yaml"
    rules = ["no-privileged", "no-privilege-escalation", "drop-all-capabilities",
             "run-as-non-root", "seccomp-profile", "read-only-root-filesystem", "min-replicas"]
    config.write_text(config.read_text() + "profiles:\n  dev:\n    severity: {"
                      + ", ".join(f"{r}: info" for r in rules) + "}\n    disable: "
                      "[exemption-refused]\n")
    scratch.privileged_patch("dev")
    scratch.commit("quiet dev")
    run = scratch.pr()
    assert run.returncode == 1, run.stderr
    privileged = [f for f in run.of("no-privileged") if f["env"] == "dev"]
    assert privileged and all(f["severity"] == "critical" for f in privileged)
    _gate_changed(run, ".kustodian.yaml")
    assert "Gate configuration changed" in run.summary and "+profiles:" in run.summary


def test_an_env_remapping_from_the_pr_is_not_obeyed(scratch):
    config = scratch.root / ".kustodian.yaml"
    config.write_text(config.read_text().replace("overlays/prod: {env: prod}",
                                                 "overlays/prod: {env: dev}"))
    path = scratch.root / "overlays/prod/namespace.yaml"
    path.write_text(path.read_text().replace("enforce: restricted", "enforce: baseline"))
    scratch.commit("prod is dev now")
    run = scratch.pr()
    assert run.returncode == 1, run.stderr
    assert [f for f in run.of("namespace-pod-security") if f["env"] == "prod"]
    _gate_changed(run, ".kustodian.yaml")


def test_policy_data_from_the_pr_is_not_obeyed(scratch):
    data = scratch.root / "policies/data.yaml"
    data.write_text(data.read_text().replace("- ghcr.io/acme/*", "- '**'"))
    _evil_registry_in_dev(scratch)
    scratch.commit("any registry")
    run = scratch.pr()
    _evil_registry_flagged(run)
    _gate_changed(run, "policies/data.yaml")


def test_a_policy_renamed_to_a_unit_test_is_still_enforced(scratch):
    """The gate leaves `*_test.rego` files out of evaluation. A PR that renames a policy into
    a unit test (and then breaks the rule it enforced) is still judged by the base's policy;
    the rename is a gate change a code owner must approve."""
    policy = scratch.root / "policies/k8s/registries.rego"
    scratch.write("policies/k8s/registries_rules_test.rego", policy.read_text())
    policy.unlink()
    _evil_registry_in_dev(scratch)
    scratch.commit("the registry policy is now a test")
    run = scratch.pr()
    _evil_registry_flagged(run)
    _gate_changed(run, "policies/k8s/registries.rego")
    _gate_changed(run, "policies/k8s/registries_rules_test.rego")


def test_a_change_to_the_gate_code_alone_is_reported(scratch):
    scratch.write("tools/kustodian/evil.py", "print('hi')\n")
    scratch.commit("gate code")
    run = scratch.pr()
    assert run.returncode == 1, run.stderr
    _gate_changed(run, "tools/kustodian/evil.py")
    assert run.rules() == {"gate-config-changed"}
    assert "1 new finding" in run.summary


def test_new_and_widened_exemptions_are_findings_in_pr_mode(scratch):
    patch = scratch.root / "overlays/prod/patches/redis.yaml"
    text = patch.read_text()
    old = text.split("expires=")[1].split('"')[0]
    patch.write_text(text.replace(f"expires={old}", "expires=" + _later(old)))
    scratch.commit("renew the redis exemption")
    run = scratch.pr()
    [hit, *_] = run.of("exemption-added")
    assert "widens" in hit["message"] and "min-replicas" in hit["message"]
    assert hit["file"] == "overlays/prod/patches/redis.yaml" and hit["line"] == 9
    assert run.returncode == 1


def _later(iso: str) -> str:
    import datetime as dt

    return (dt.date.fromisoformat(iso) + dt.timedelta(days=1)).isoformat()



def test_ignore_rules_from_the_pr_are_not_obeyed(scratch):
    """An `ignore: **` in the PR's config would hide every target: PR mode takes the base's."""
    config = scratch.root / ".kustodian.yaml"
    text = config.read_text()
    head, sep, rest = text.partition("\nignore:")
    assert sep, "the repo config has an ignore: list"
    line_end = rest.index("\n")
    config.write_text(head + sep + rest[:line_end] + "\n  - path: '**'\n    reason: nothing to see"
                      + rest[line_end:])
    scratch.privileged_patch("dev")
    scratch.commit("ignore everything")
    obeyed = scratch.full()        # full mode reads the tree's own config: the attack is real
    assert not obeyed.of("no-privileged"), obeyed.stderr
    run = scratch.pr()
    assert run.returncode == 1, run.stderr
    assert [f for f in run.of("no-privileged") if f["env"] == "dev"], run.stderr
    _gate_changed(run, ".kustodian.yaml")


def test_a_remote_allow_list_from_the_pr_is_not_obeyed(scratch):
    """A PR allowing a host in its own config, with a reference pinned to a commit there,
    would have the gate fetch content chosen by the PR author: PR mode takes the base's list."""
    ref = "https://github.com/acme/evil//deploy?ref=0123456789abcdef0123456789abcdef01234567"
    config = scratch.root / ".kustodian.yaml"
    config.write_text(config.read_text() + "remote_resources: {allow: [github.com]}\n")
    kfile = scratch.root / "overlays/dev/kustomization.yaml"
    kfile.write_text(kfile.read_text().replace("resources:\n", f"resources:\n  - {ref}\n", 1))
    scratch.commit("allow my own host")
    obeyed = scratch.full("overlays/dev")    # full mode reads the tree's config: allowed there
    assert not obeyed.of("remote-resource"), obeyed.stderr
    run = scratch.pr()
    assert run.returncode == 1, run.stderr
    [hit] = run.of("remote-resource")
    assert ref in hit["message"] and hit["file"] == "overlays/dev/kustomization.yaml"
    _gate_changed(run, ".kustodian.yaml")


def test_a_result_cached_under_the_prs_policy_never_serves_the_bases(scratch, tmp_path,
                                                                     monkeypatch):
    """The policy cache (KUSTODIAN_RENDER_CACHE, the operator's) keys each result by the
    content of every policy file. A PR that rewrites the registry policy to allow anything
    and moves dev to an evil registry gets a clean result for dev's render when the PR's own
    tree is checked (its policies, as a plain `kustodian check` of the branch does) and that
    result is cached; PR mode, judging with the base's policy, still flags the registry, on
    a warm cache as on a cold one."""
    monkeypatch.setenv("KUSTODIAN_RENDER_CACHE", str(tmp_path / "operator-cache"))
    policy = scratch.root / "policies/k8s/registries.rego"
    policy.write_text(policy.read_text().replace("deny contains", "ignored contains"))
    _evil_registry_in_dev(scratch)
    scratch.commit("any registry, by policy")
    head = scratch.full()
    assert not head.of("allowed-registries"), "the PR's own policy is obeyed on its tree"
    assert list((tmp_path / "operator-cache/policy-v1").iterdir())
    for _ in range(2):
        run = scratch.pr()
        _evil_registry_flagged(run)
        _gate_changed(run, "policies/k8s/registries.rego")
