"""`--format junit`: one testsuite per env/overlay, one failing testcase per finding."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from itertools import groupby

from kustodian.model import Report


def to_junit(report: Report) -> str:
    suites = ET.Element("testsuites", name="kustodian check",
                        tests=str(max(len(report.findings), 1)),
                        failures=str(len(report.findings)), errors=str(len(report.errors)))
    key = lambda f: (f.env or "", f.overlay or f.file or "")  # noqa: E731
    for (env, where), group in groupby(sorted(report.findings, key=key), key=key):
        items = list(group)
        suite = ET.SubElement(suites, "testsuite", name=f"{env or 'no-env'}:{where}",
                              tests=str(len(items)), failures=str(len(items)), errors="0")
        for f in items:
            ident = f"{f.kind}/{f.namespace + '/' if f.namespace else ''}{f.name}"
            if f.container:
                ident += f"[{f.container}]"
            case = ET.SubElement(suite, "testcase", classname=f.rule, name=ident,
                                 file=f.file or "", line=str(f.line or 0))
            failure = ET.SubElement(case, "failure", type=str(f.severity),
                                    message=f.message)
            failure.text = (f"{f.file}:{f.line}: [{f.severity}] {f.rule}: {f.message}\n"
                            f"fix: {f.remediation}")
    if report.errors:
        suite = ET.SubElement(suites, "testsuite", name="errors", tests=str(len(report.errors)),
                              failures="0", errors=str(len(report.errors)))
        for i, err in enumerate(report.errors):
            case = ET.SubElement(suite, "testcase", classname="kustodian", name=f"error-{i}")
            ET.SubElement(case, "error", message=err.splitlines()[0]).text = err
    if not report.findings and not report.errors:
        suite = ET.SubElement(suites, "testsuite", name="kustodian", tests="1", failures="0",
                              errors="0")
        ET.SubElement(suite, "testcase", classname="kustodian", name="no findings")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(
        suites, encoding="unicode") + "\n"
