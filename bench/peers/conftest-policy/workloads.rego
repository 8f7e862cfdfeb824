# A small Rego policy set comparable to a slice of kustodian's built-in rules, so that conftest
# (which has no built-in checks) can be timed on the same rendered YAML. Each deny message starts
# with "<id>:" (mapped to kustodian rule ids in bench/peers/mapping.py). Container-level only: no
# pod-level securityContext inheritance, no init/ephemeral containers - what a typical hand-written
# policy does.
package main

pod_spec := input.spec.template.spec if {
	input.kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
}

pod_spec := input.spec.jobTemplate.spec.template.spec if input.kind == "CronJob"

pod_spec := input.spec if input.kind == "Pod"

containers contains c if some c in pod_spec.containers

deny contains msg if {
	some c in containers
	c.securityContext.privileged == true
	msg := sprintf("privileged: container %s of %s/%s is privileged", [c.name, input.kind, input.metadata.name])
}

deny contains msg if {
	some c in containers
	not c.securityContext.runAsNonRoot == true
	not pod_spec.securityContext.runAsNonRoot == true
	msg := sprintf("run-as-non-root: container %s of %s/%s may run as root", [c.name, input.kind, input.metadata.name])
}

deny contains msg if {
	some c in containers
	not c.securityContext.allowPrivilegeEscalation == false
	msg := sprintf("privilege-escalation: container %s of %s/%s allows privilege escalation", [c.name, input.kind, input.metadata.name])
}

deny contains msg if {
	some c in containers
	not c.securityContext.readOnlyRootFilesystem == true
	msg := sprintf("read-only-root-fs: container %s of %s/%s has a writable root filesystem", [c.name, input.kind, input.metadata.name])
}

deny contains msg if {
	some c in containers
	endswith(c.image, ":latest")
	msg := sprintf("latest-tag: container %s of %s/%s uses :latest", [c.name, input.kind, input.metadata.name])
}

deny contains msg if {
	some c in containers
	not contains(c.image, ":")
	msg := sprintf("latest-tag: container %s of %s/%s has no tag", [c.name, input.kind, input.metadata.name])
}

deny contains msg if {
	some c in containers
	some kind in ["requests", "limits"]
	not c.resources[kind].memory
	msg := sprintf("resources: container %s of %s/%s has no memory %s", [c.name, input.kind, input.metadata.name, kind])
}

deny contains msg if {
	some field in ["hostNetwork", "hostPID", "hostIPC"]
	pod_spec[field] == true
	msg := sprintf("host-namespaces: %s/%s sets %s", [input.kind, input.metadata.name, field])
}

deny contains msg if {
	some v in pod_spec.volumes
	v.hostPath
	msg := sprintf("host-path: %s/%s mounts hostPath %s", [input.kind, input.metadata.name, v.hostPath.path])
}
