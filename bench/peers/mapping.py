"""Which of a peer's check ids means which kustodian rule id (from each tool's documentation).

Sources: kube-score `kube-score list` and README_CHECKS.md (v1.20.0); checkov
`checkov --list --framework kubernetes` (3.3.30) and its Kubernetes policy index; kube-linter
docs/generated/checks.md and Polaris pkg/config/checks/*.yaml (kept for when those two can be
installed: the Go module proxy refused both here); the conftest row is the small comparable Rego
set in bench/peers/conftest-policy/. A peer check that covers a rule only partly (kube-score's
UID > 10000 for run-as-non-root, checkov's NET_RAW-only CKV_K8S_28 for drop-all-capabilities)
is still mapped: a detection counts when ANY mapped check fires on the file.
Unmapped checks (pull policy Always, ephemeral-storage limits, requests == limits, ...) are
outside the compared rule set; they are counted separately as "other" findings, not as FPs.
"""

from __future__ import annotations

# kustodian rule id -> category (as in kustodian's catalogue; the report groups by it)
RULE_CATEGORY: dict[str, str] = {
    **dict.fromkeys((
        "run-as-non-root", "no-privilege-escalation", "drop-all-capabilities",
        "no-added-capabilities", "read-only-root-filesystem", "seccomp-profile", "no-privileged",
        "no-host-namespaces", "no-host-path", "no-host-ports", "apparmor-profile",
        "selinux-options", "default-proc-mount", "safe-sysctls", "restricted-volume-types",
        "no-host-process", "no-probe-host"), "pod-security"),
    **dict.fromkeys((
        "liveness-probe", "readiness-probe", "probe-port-declared", "resource-requests",
        "resource-limits", "min-replicas", "pod-spread"), "reliability"),
    **dict.fromkeys(("image-tag-pinned", "image-digest-pinned"), "supply-chain"),
    **dict.fromkeys(("no-plaintext-secrets", "service-account-token"), "secrets"),
    **dict.fromkeys(("no-node-port", "network-policy-coverage"), "network"),
    **dict.fromkeys((
        "pdb-required", "pdb-selects-pods", "pdb-not-blocking", "hpa-pdb-consistent",
        "service-selector-matches", "ingress-backend-exists", "canary-split"), "cross-resource"),
    **dict.fromkeys(("no-default-namespace", "deprecated-api-version"), "hygiene"),
}

# rules that only apply in some environments; a peer has no notion of environments,
# so its hits on these outside their envs are reported apart ("env-aware" false positives)
RULE_ENVS: dict[str, tuple[str, ...]] = {
    "min-replicas": ("prod",), "pod-spread": ("prod",), "image-digest-pinned": ("prod",),
    "network-policy-coverage": ("prod",), "pdb-required": ("staging", "prod"),
}

KUBE_SCORE: dict[str, tuple[str, ...]] = {
    "container-security-context-user-group-id": ("run-as-non-root",),
    "container-security-context-privileged": ("no-privileged",),
    "container-security-context-readonlyrootfilesystem": ("read-only-root-filesystem",),
    "container-seccomp-profile": ("seccomp-profile",),
    "container-resources": ("resource-requests", "resource-limits"),
    "container-image-tag": ("image-tag-pinned",),
    "pod-probes": ("liveness-probe", "readiness-probe"),
    "deployment-has-poddisruptionbudget": ("pdb-required",),
    "statefulset-has-poddisruptionbudget": ("pdb-required",),
    "deployment-replicas": ("min-replicas",),
    "horizontalpodautoscaler-replicas": ("min-replicas",),
    "deployment-has-host-podantiaffinity": ("pod-spread",),
    "statefulset-has-host-podantiaffinity": ("pod-spread",),
    "pod-topology-spread-constraints": ("pod-spread",),
    "service-targets-pod": ("service-selector-matches",),
    "ingress-targets-service": ("ingress-backend-exists",),
    "pod-networkpolicy": ("network-policy-coverage",),
    "networkpolicy-targets-pod": ("network-policy-coverage",),
    "service-type": ("no-node-port",),
    "stable-version": ("deprecated-api-version",),
}

CHECKOV: dict[str, tuple[str, ...]] = {
    "CKV_K8S_8": ("liveness-probe",),
    "CKV_K8S_9": ("readiness-probe",),
    "CKV_K8S_10": ("resource-requests",),
    "CKV_K8S_12": ("resource-requests",),
    "CKV_K8S_11": ("resource-limits",),
    "CKV_K8S_13": ("resource-limits",),
    "CKV_K8S_14": ("image-tag-pinned",),
    "CKV_K8S_43": ("image-digest-pinned",),
    "CKV_K8S_16": ("no-privileged",),
    "CKV_K8S_17": ("no-host-namespaces",),
    "CKV_K8S_18": ("no-host-namespaces",),
    "CKV_K8S_19": ("no-host-namespaces",),
    "CKV_K8S_20": ("no-privilege-escalation",),
    "CKV_K8S_21": ("no-default-namespace",),
    "CKV_K8S_22": ("read-only-root-filesystem",),
    "CKV_K8S_23": ("run-as-non-root",),
    "CKV_K8S_25": ("no-added-capabilities",),
    "CKV_K8S_39": ("no-added-capabilities",),
    "CKV_K8S_26": ("no-host-ports",),
    "CKV_K8S_27": ("no-host-path",),
    "CKV_K8S_28": ("drop-all-capabilities",),
    "CKV_K8S_37": ("drop-all-capabilities",),
    "CKV_K8S_31": ("seccomp-profile",),
    "CKV_K8S_38": ("service-account-token",),
    "CKV2_K8S_6": ("network-policy-coverage",),
}

# kubeconform validates schemas only; a removed apiVersion shows up as "could not find schema"
KUBECONFORM: dict[str, tuple[str, ...]] = {"missing-schema": ("deprecated-api-version",)}

# bench/peers/conftest-policy/*.rego: deny messages start with "<id>:"
CONFTEST: dict[str, tuple[str, ...]] = {
    "privileged": ("no-privileged",),
    "run-as-non-root": ("run-as-non-root",),
    "privilege-escalation": ("no-privilege-escalation",),
    "latest-tag": ("image-tag-pinned",),
    "resources": ("resource-requests", "resource-limits"),
    "host-namespaces": ("no-host-namespaces",),
    "host-path": ("no-host-path",),
    "read-only-root-fs": ("read-only-root-filesystem",),
}

# Not installable here (the Go module proxy answers 403 for both modules); the tables are kept
# from their docs so the harness scores them as soon as a binary is on PATH / in the cache.
KUBE_LINTER: dict[str, tuple[str, ...]] = {
    "run-as-non-root": ("run-as-non-root",),
    "privilege-escalation-container": ("no-privilege-escalation",),
    "privileged-container": ("no-privileged",),
    "no-read-only-root-fs": ("read-only-root-filesystem",),
    "drop-net-raw-capability": ("drop-all-capabilities",),
    "host-network": ("no-host-namespaces",),
    "host-pid": ("no-host-namespaces",),
    "host-ipc": ("no-host-namespaces",),
    "sensitive-host-mounts": ("no-host-path",),
    "docker-sock": ("no-host-path",),
    "unset-cpu-requirements": ("resource-requests", "resource-limits"),
    "unset-memory-requirements": ("resource-requests", "resource-limits"),
    "latest-tag": ("image-tag-pinned",),
    "dangling-service": ("service-selector-matches",),
    "no-anti-affinity": ("pod-spread",),
    "pdb-max-unavailable": ("pdb-not-blocking",),
    "pdb-min-available": ("pdb-not-blocking",),
    "liveness-port": ("probe-port-declared",),
    "readiness-port": ("probe-port-declared",),
    "no-liveness-probe": ("liveness-probe",),
    "no-readiness-probe": ("readiness-probe",),
    "minimum-three-replicas": ("min-replicas",),
    "dangling-ingress": ("ingress-backend-exists",),
    "non-isolated-pod": ("network-policy-coverage",),
    "unsafe-proc-mount": ("default-proc-mount",),
    "host-ports": ("no-host-ports",),
    "use-namespace": ("no-default-namespace",),
}

POLARIS: dict[str, tuple[str, ...]] = {
    "runAsRootAllowed": ("run-as-non-root",),
    "privilegeEscalationAllowed": ("no-privilege-escalation",),
    "runAsPrivileged": ("no-privileged",),
    "notReadOnlyRootFilesystem": ("read-only-root-filesystem",),
    "insecureCapabilities": ("drop-all-capabilities",),
    "dangerousCapabilities": ("no-added-capabilities",),
    "hostNetworkSet": ("no-host-namespaces",),
    "hostPIDSet": ("no-host-namespaces",),
    "hostIPCSet": ("no-host-namespaces",),
    "hostPathSet": ("no-host-path",),
    "hostPortSet": ("no-host-ports",),
    "hostProcess": ("no-host-process",),
    "procMount": ("default-proc-mount",),
    "livenessProbeMissing": ("liveness-probe",),
    "readinessProbeMissing": ("readiness-probe",),
    "cpuRequestsMissing": ("resource-requests",),
    "memoryRequestsMissing": ("resource-requests",),
    "cpuLimitsMissing": ("resource-limits",),
    "memoryLimitsMissing": ("resource-limits",),
    "tagNotSpecified": ("image-tag-pinned",),
    "deploymentMissingReplicas": ("min-replicas",),
    "hpaMinAvailability": ("min-replicas",),
    "topologySpreadConstraint": ("pod-spread",),
    "missingPodDisruptionBudget": ("pdb-required",),
    "pdbDisruptionsIsZero": ("pdb-not-blocking",),
    "pdbMinAvailableGreaterThanHPAMinReplicas": ("hpa-pdb-consistent",),
    "automountServiceAccountToken": ("service-account-token",),
    "missingNetworkPolicy": ("network-policy-coverage",),
}

TOOL_MAPPINGS: dict[str, dict[str, tuple[str, ...]]] = {
    "kube-score": KUBE_SCORE,
    "checkov": CHECKOV,
    "kubeconform": KUBECONFORM,
    "conftest": CONFTEST,
    "kube-linter": KUBE_LINTER,
    "polaris": POLARIS,
}


def rules_for(tool: str, check_id: str) -> tuple[str, ...]:
    """The kustodian rule ids one peer check id stands for (empty: outside the compared set)."""
    return TOOL_MAPPINGS.get(tool, {}).get(check_id, ())
