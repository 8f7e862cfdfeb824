"""Findings the pipeline itself raises (exemptions, schema), listed in the catalogue too."""

from __future__ import annotations

from kustodian.model import Severity
from kustodian.rules.base import Rule


def _none(*_args):
    return ()


META = "meta"

EXEMPTION_MALFORMED = Rule(
    id="exemption-malformed", severity=Severity.MEDIUM, category="hygiene", scope=META,
    title="Exemption annotations are well formed",
    rationale="An exemption that cannot be parsed (unknown rule id, no reason, bad date) "
              "suppresses nothing and hides intent; it is reported instead of ignored.",
    remediation='Write `kustodian.io/exempt: "<rule-id>: <reason>; expires=YYYY-MM-DD"`, one '
                "exemption per line.",
    check=_none)
EXEMPTION_EXPIRED = Rule(
    id="exemption-expired", severity=Severity.MEDIUM, category="hygiene", scope=META,
    title="Exemptions have not expired",
    rationale="Exemptions are temporary by design; once expired they stop suppressing and "
              "the original finding is reported again, together with this one.",
    remediation="Fix the underlying finding and remove the exemption, or renew it with a new "
                "expires= date and a reason.",
    check=_none)
EXEMPTION_REFUSED = Rule(
    id="exemption-refused", severity=Severity.HIGH, category="hygiene", scope=META,
    title="Exemptions are specific, short-lived and declared for one resource",
    rationale="Whoever writes a pull request can write an exemption, so exemptions are "
              "governed: one known rule each, an expires= date within the repository's "
              "horizon (default 90 days), a few per resource, declared in the resource's "
              "own manifest or a patch that reaches only it - never commonAnnotations or a "
              "Component's patch stamped on many resources. A refused exemption suppresses "
              "nothing.",
    remediation="Declare the exemption on the one resource that needs it, name the rule, "
                "give a reason and an expires= date within the horizon; fix the others.",
    check=_none)
REMOTE_RESOURCE = Rule(
    id="remote-resource", severity=Severity.HIGH, category="supply-chain", scope=META,
    title="Overlays render only content from this repository",
    rationale="A remote `resources:` entry (http(s), git, file://, OCI) is fetched when the "
              "overlay renders: the content can change after review (the gate saw a "
              "ConfigMap, Argo CD gets a privileged Pod), file:// reads outside the "
              "repository, and a host that never answers hangs the check. Such overlays are "
              "not rendered; a host allowed in .kustodian.yaml remote_resources.allow must "
              "still be pinned to a commit SHA or an OCI digest.",
    remediation="Vendor the manifests into the repository, or allow the host in "
                "remote_resources.allow and pin the reference (?ref=<40-hex commit>, "
                "@sha256:<digest>).",
    check=_none)
GATE_CONFIG_CHANGED = Rule(
    id="gate-config-changed", severity=Severity.HIGH, category="hygiene", scope=META,
    title="Pull requests do not change the gate that judges them (unreviewed)",
    rationale="In PR mode the configuration, profiles, exemption limits and policies come "
              "from the base revision; a change to them (or to the gate's code, tools and "
              "workflows) is judged, not obeyed, and is reported so a code owner reviews it "
              "before it takes effect.",
    remediation="Have a code owner of the gate review and approve the change (CODEOWNERS); "
                "keep gate changes in their own pull request.",
    check=_none)
EXEMPTION_ADDED = Rule(
    id="exemption-added", severity=Severity.MEDIUM, category="hygiene", scope=META,
    title="New or widened exemptions are reviewed",
    rationale="An exemption written in a pull request suppresses findings of that same "
              "pull request; PR mode lists each exemption it adds or widens (later expiry, "
              "more findings suppressed) with what it suppresses, so it is seen and approved.",
    remediation="Get the exemption reviewed; prefer fixing the finding.",
    check=_none)
SCHEMA_INVALID = Rule(
    id="schema-invalid", severity=Severity.HIGH, category="schema", scope=META,
    title="Resources are valid against the Kubernetes and CRD schemas",
    rationale="The API server rejects (or silently drops fields of) objects that do not "
              "match their schema; strict validation catches typos such as `replica:`.",
    remediation="Fix the field named in the message (spelling, type, required fields).",
    check=_none)

ARGOCD_SOURCE_UNRENDERED = Rule(
    id="argocd-source-unrendered", severity=Severity.HIGH, category="supply-chain",
    scope=META,
    title="Every Argo CD Application source can be rendered and checked offline",
    rationale="What an Application deploys from another repository, a chart repository, an "
              "OCI registry, a config management plugin or jsonnet is never seen by the gate; "
              "it is reported instead of skipped, so nothing reaches a cluster unchecked.",
    remediation="Vendor the content into this repository (a chart with its dependencies in "
                "charts/, rendered YAML instead of jsonnet), or check that repository with "
                "its own gate.",
    check=_none)
ARGOCD_GENERATOR_REVISION = Rule(
    id="argocd-generator-revision", severity=Severity.HIGH, category="supply-chain",
    scope=META,
    title="ApplicationSet git generators read the revision under check",
    rationale="Argo CD evaluates a git generator at its `revision`. A branch or tag other "
              "than the one under check (say, a branch the pull request's author can push "
              "to) decides which Applications are generated, and can change after the gate "
              "passed. The gate evaluates it at that ref's commit in the clone and reports "
              "it; a revision the clone does not hold is an argocd-source-unrendered "
              "finding.",
    remediation="Point the generator at HEAD or the branch this repository deploys from "
                "(the one the gate checks), or pin a commit sha.",
    check=_none)
ARGOCD_TARGET_REVISION = Rule(
    id="argocd-target-revision", severity=Severity.HIGH, category="supply-chain",
    scope=META,
    title="Argo CD Applications deploy the revision under check or a pinned commit",
    rationale="Argo CD deploys an Application source of this repository at its "
              "`targetRevision`, and the gate renders and checks it at that commit. A "
              "branch or tag other than the one under check (say, a branch the pull "
              "request's author can push to) is reported as well: it decides what Argo CD "
              "deploys and can move after the gate passed, so the gate checked one tree "
              "and the cluster gets another. A pinned commit cannot move: it is judged "
              "exactly (rendered from its own tree) and is no finding of this rule. A "
              "revision the clone does not hold is an argocd-source-unrendered finding.",
    remediation="Point targetRevision at HEAD or the branch this repository deploys from "
                "(the one the gate checks), or pin the commit sha the gate checked.",
    check=_none)

APISERVER_REJECTED = Rule(
    id="apiserver-rejected", severity=Severity.HIGH, category="schema", scope=META,
    title="A real kube-apiserver accepts every object (check --apiserver)",
    rationale="Schemas miss most of what decides a sync: the API server's own validation "
              "(selectors, quantities, names, ports, probes, CEL rules of CRDs, missing "
              "namespaces). Each object is server-side applied as a dry run to a throw-away "
              "API server; a rejection here is a failed sync in the cluster.",
    remediation="Fix the field the API server names in the message.",
    check=_none)
APISERVER_WARNING = Rule(
    id="apiserver-warning", severity=Severity.MEDIUM, category="schema", scope=META,
    title="A real kube-apiserver applies every object without warnings (check --apiserver)",
    rationale="Warnings of the API server (PodSecurity violations of the namespace's level, "
              "deprecated APIs, duplicate entries that hide each other) are accepted now "
              "and become rejected pods or lost settings later.",
    remediation="Change the field or container the warning names.",
    check=_none)
IMMUTABLE_FIELD_CHANGE = Rule(
    id="immutable-field-change", severity=Severity.HIGH, category="schema", scope=META,
    title="A change does not touch fields the API server will not update (PR mode)",
    rationale="In pull-request mode with --apiserver the base revision is applied for real "
              "and the change dry-run on top: a Deployment selector, a StatefulSet's "
              "volumeClaimTemplates or serviceName, a Service's clusterIP cannot change in "
              "place, so the sync fails until the object is deleted and recreated.",
    remediation="Keep the field as it is, or plan the replacement (new name, or delete and "
                "recreate, e.g. Argo CD's `Replace=true` sync option) on purpose.",
    check=_none)

META_RULES = (EXEMPTION_MALFORMED, EXEMPTION_EXPIRED, EXEMPTION_REFUSED, REMOTE_RESOURCE,
              GATE_CONFIG_CHANGED, EXEMPTION_ADDED, SCHEMA_INVALID, ARGOCD_SOURCE_UNRENDERED,
              ARGOCD_GENERATOR_REVISION, ARGOCD_TARGET_REVISION,
              APISERVER_REJECTED, APISERVER_WARNING, IMMUTABLE_FIELD_CHANGE)
