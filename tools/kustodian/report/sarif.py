"""`--format sarif`: SARIF 2.1.0 with rule metadata and source-file/line locations."""

from __future__ import annotations

import json

from kustodian import __version__
from kustodian.model import Finding, Report, Severity, format_path

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning",
          Severity.LOW: "note", Severity.INFO: "note"}
_SCORE = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5",
          Severity.LOW: "3.0", Severity.INFO: "1.0"}


def _rule_descriptor(rule_id: str, sample: Finding) -> dict:
    from kustodian.rules.registry import rules_by_id

    rule = rules_by_id().get(rule_id)
    title = rule.title if rule else (sample.title or rule_id)
    help_text = (f"{rule.rationale}\n\nFix: {rule.remediation}" if rule
                 else f"Fix: {sample.remediation}" if sample.remediation else title)
    severity = rule.severity if rule else sample.severity
    return {
        "id": rule_id, "name": "".join(p.capitalize() for p in rule_id.split("-")),
        "shortDescription": {"text": title},
        "fullDescription": {"text": rule.rationale if rule else title},
        "help": {"text": help_text,
                 "markdown": f"**{title}**\n\n{help_text.replace(chr(10), '  ' + chr(10))}"},
        "defaultConfiguration": {"level": _LEVEL[severity]},
        "properties": {"category": rule.category if rule else sample.category,
                       "security-severity": _SCORE[severity],
                       "tags": [rule.category if rule else sample.category, "kubernetes"]},
    }


def _result(f: Finding, index: int) -> dict:
    ident = f"{f.kind} {f.namespace + '/' if f.namespace else ''}{f.name}"
    if f.container:
        ident += f" (container {f.container})"
    env = f"[{f.env}] " if f.env else ""
    result: dict = {
        "ruleId": f.rule, "ruleIndex": index, "level": _LEVEL[f.severity],
        "message": {"text": f"{env}{ident}: {f.message}. Fix: {f.remediation}"
                    if f.remediation else f"{env}{ident}: {f.message}"},
        "partialFingerprints": {"kustodian/v1": "|".join(
            format_path(x) if isinstance(x, tuple) else str(x or "")
            for x in f.fingerprint())},
        "properties": {"severity": str(f.severity), "category": f.category, "env": f.env,
                       "kind": f.kind, "name": f.name, "namespace": f.namespace,
                       "container": f.container, "overlay": f.overlay, "source": f.source},
    }
    if f.file:
        region = {"startLine": f.line} if f.line else {"startLine": 1}
        result["locations"] = [{"physicalLocation": {
            "artifactLocation": {"uri": f.file},
            "region": region}}]
    return result


def to_sarif(report: Report) -> str:
    rule_ids: list[str] = []
    samples: dict[str, Finding] = {}
    for f in report.findings:
        if f.rule not in samples:
            samples[f.rule] = f
            rule_ids.append(f.rule)
    from kustodian.rules.registry import all_rules

    for rule in all_rules():   # full catalogue, so code scanning knows every rule
        if rule.id not in samples:
            rule_ids.append(rule.id)
    descriptors = []
    for rid in rule_ids:
        d = _rule_descriptor(rid, samples.get(rid) or Finding(rid, Severity.INFO, "hygiene",
                                                             rid))
        descriptors.append(d)
    index = {rid: i for i, rid in enumerate(rule_ids)}
    run = {
        "tool": {"driver": {"name": "kustodian", "version": __version__,
                            "informationUri": "https://github.com/acme/agent-gitops",
                            "rules": descriptors}},
        "results": [_result(f, index[f.rule]) for f in report.findings],
        "invocations": [{"executionSuccessful": not report.errors,
                         "toolExecutionNotifications": [
                             {"level": "error", "message": {"text": e}} for e in report.errors]}],
    }
    sarif = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
    return json.dumps(sarif, indent=2) + "\n"
