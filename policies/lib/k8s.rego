# Helpers over Kubernetes inputs: the objects of a document (List items included),
# their pod specs and every container (init and ephemeral included), and the environment.
package lib.k8s

import rego.v1

# The Kubernetes objects in this input document: the document itself, or a List's items.
objects contains obj if {
	is_object(input)
	input.kind != "List"
	obj := input
}

objects contains obj if {
	is_object(input)
	input.kind == "List"
	some obj in input.items
	is_object(obj)
}

pod_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController", "Rollout"}

# pod_spec(obj) is the pod spec a workload object creates.
pod_spec(obj) := obj.spec if obj.kind == "Pod"

pod_spec(obj) := obj.spec.template.spec if pod_kinds[obj.kind]

pod_spec(obj) := obj.spec.jobTemplate.spec.template.spec if obj.kind == "CronJob"

pod_spec(obj) := obj.template.spec if obj.kind == "PodTemplate"

container_fields := ["initContainers", "containers", "ephemeralContainers"]

# containers(obj) is the set of every container of a workload, whatever its type.
containers(obj) := {c |
	spec := pod_spec(obj)
	some field in container_fields
	some c in object.get(spec, field, [])
	is_object(c)
}

# The namespace of an object ("" when unset).
namespace(obj) := object.get(obj, ["metadata", "namespace"], "")

# The environment of the file under test: kustodian writes {"kustodian": {"inputs":
# {"<abs path>": {"env": ..., "overlay": ...}}}} as data; a global data.kustodian.env works too.
default env := ""

env := e if {
	file := data.conftest.file
	e := data.kustodian.inputs[concat("/", [file.dir, file.name])].env
	is_string(e)
} else := e if {
	e := data.kustodian.env
	is_string(e)
}

# A finding identifying the object (and container) it concerns.
result(rule, severity, category, obj, container, msg, remediation) := {
	"msg": msg,
	"rule": rule,
	"severity": severity,
	"category": category,
	"remediation": remediation,
	"kind": object.get(obj, "kind", ""),
	"name": object.get(obj, ["metadata", "name"], ""),
	"namespace": namespace(obj),
	"container": container,
}
