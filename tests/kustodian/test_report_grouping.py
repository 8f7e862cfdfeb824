"""A finding rendered identically in several targets (a base line every overlay reads) is
shown once in the text report and the PR summary, with the targets it reaches; JSON, SARIF and
JUnit keep one finding per target. Text from the checked tree that enters the PR summary (the
Markdown the bot posts) is escaped: it renders as text, never as Markdown, HTML or a mention."""

from __future__ import annotations

import json

from kustodian.model import Finding, Report, Severity, group_by_source
from kustodian.prmode import BaseRevision, render_markdown
from kustodian.report import md
from support.cli import kustodian, line_of

DIGEST = "sha256:" + "a" * 64
OVERLAYS = ("dev", "staging", "prod")


def _repo(tree):
    files = {
        "base/kustomization.yaml": "resources: [app.yaml]\n",
        "base/app.yaml": f"""\
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: web
              namespace: shop
            spec:
              selector:
                matchLabels: {{app: web}}
              template:
                metadata:
                  labels: {{app: web}}
                spec:
                  containers:
                  - name: web
                    image: registry.example/web@{DIGEST}
                    securityContext:
                      privileged: true
            """,
    }
    for env in OVERLAYS:
        files[f"overlays/{env}/kustomization.yaml"] = "resources: [../../base]\n"
    return tree(files)


def test_text_shows_a_shared_base_finding_once_and_json_keeps_every_target(tree) -> None:
    root = _repo(tree)
    args = ("check", "--no-schema", "--no-conftest")
    text = kustodian(*args, cwd=root)
    assert text.returncode == 1, text.stdout + text.stderr
    line = line_of(root / "base/app.yaml", "privileged: true")
    shown = [row for row in text.stdout.splitlines()
             if f"base/app.yaml:{line}" in row and "no-privileged" in row]
    assert len(shown) == 1, text.stdout
    assert "in 3 targets: overlays/dev, overlays/prod, overlays/staging" in text.stdout \
        or "in 3 targets: overlays/dev, overlays/staging, overlays/prod" in text.stdout
    assert "== env: dev, prod, staging" in text.stdout
    assert "shown once per source line" in text.stdout.splitlines()[-1]

    data = kustodian(*args, "--format", "json", cwd=root).json()
    privileged = [f for f in data["findings"] if f["rule"] == "no-privileged"]
    assert sorted(f["overlay"] for f in privileged) == [f"overlays/{e}" for e in
                                                          sorted(OVERLAYS)]
    sarif = json.loads(kustodian(*args, "--format", "sarif", cwd=root).stdout)
    assert sum(r["ruleId"] == "no-privileged" for r in sarif["runs"][0]["results"]) == 3
    junit = kustodian(*args, "--format", "junit", cwd=root).stdout
    assert junit.count('classname="no-privileged"') == 3


def _finding(env: str, **kw) -> Finding:
    base = {"rule": "no-privileged", "severity": Severity.HIGH, "category": "pod-security",
            "message": "container 'web' is privileged", "env": env, "kind": "Deployment",
            "name": "web", "namespace": "shop", "container": "web", "file": "base/app.yaml",
            "line": 17, "overlay": f"overlays/{env}", "status": "new",
            "field_path": ("spec", "template", "spec", "containers", 0, "securityContext",
                           "privileged")}
    return Finding(**{**base, **kw})


def _summary(findings: list[Finding], affected: list[str] | None = None,
             rendered: dict[str, str] | None = None) -> str:
    report = Report(findings=findings, rendered=rendered or {})
    overlays = affected or sorted({f.overlay for f in findings if f.overlay})
    return render_markdown(BaseRevision("main", "0" * 40, "0" * 40), {"base/app.yaml"},
                           overlays, report, [], Report(), {o: "" for o in overlays})


def test_the_pr_summary_shows_a_shared_finding_once_with_its_targets() -> None:
    findings = [_finding(env) for env in ("dev", "staging", "prod")]
    findings.append(_finding("prod", line=30, message="other"))
    groups = group_by_source(findings)
    assert [len(g.findings) for g in groups] == [3, 1]
    text = _summary(findings)
    rows = [r for r in text.splitlines() if r.startswith("| high")]
    assert len(rows) == 2, text
    assert "in 3 targets: overlays/dev, overlays/staging, overlays/prod" in rows[0] or \
        "in 3 targets: overlays/dev, overlays/staging, overlays/prod" in rows[1]
    assert "**4 new finding(s)**" in text   # counts stay per target


HOSTILE = ('evil.example/x:1<img src=x onerror=alert(1)> @acme/security-team '
           '[click](https://evil.example) **bold** | col `code` ``` \n## heading')


def test_hostile_text_from_the_tree_is_escaped_in_the_pr_summary() -> None:
    finding = _finding("dev", message=f"container 'web' uses image {HOSTILE}",
                       name="web`|<b>x</b>", file="base/a`pp.yaml")
    diff_after = "image: x\n````\n</details><script>alert(1)</script>\n"
    text = _summary([finding], rendered={"overlays/dev": diff_after})
    row = next(r for r in text.splitlines() if r.startswith("| high"))
    assert "<img" not in row and "&lt;img" in row
    assert "| ``Deployment/shop/web`\\|<b>x</b> [web]`` |" in row   # a code span: literal
    assert "@acme" not in row                      # no mention (a word joiner breaks it)
    assert "](https://evil" not in row and "https://evil" not in row   # no link
    assert row.count(" | ") == 5 or row.count("|") - row.count("\\|") == 7, row  # 6 cells
    assert "\n## heading" not in text
    # the diff fence is longer than any backtick run inside it, so nothing breaks out of it
    body = text[text.index("<details>"):]
    fence_line = next(line for line in body.splitlines() if line.startswith("```"))
    assert fence_line.startswith("`````") and fence_line.endswith("diff")


def test_md_primitives() -> None:
    assert md.code("a`b") == "``a`b``" and md.code("x|y") == "`x\\|y`"
    assert md.code("`x`") == "`` `x` ``"
    assert md.text("a <b> & c") == "a &lt;b&gt; &amp; c"
    assert md.text("@team") == "@\u2060team"
    assert md.fence(["```", "x"]) == "````" and md.fence(["x"]) == "```"
    assert md.attr('<a href="x">') == "&lt;a href=&quot;x&quot;&gt;"
