# Containers may only run images from the registries listed in policies/data.yaml.
package k8s.registries

import rego.v1

import data.lib.k8s
import data.lib.names

default _policy := {}

_policy := data.kustodian_policy.registries

allowed_patterns contains p if some p in object.get(_policy, "allowed", [])

allowed_patterns contains p if some p in object.get(_policy, ["allowed_by_env", k8s.env], [])

allowed(image) if {
	repo := names.image_repository(image)
	some pattern in allowed_patterns
	glob.match(pattern, [], repo)
}

_shown_patterns := concat(", ", sort([p | some p in allowed_patterns])) if count(allowed_patterns) > 0

_shown_patterns := "none configured" if count(allowed_patterns) == 0

deny contains result if {
	some obj in k8s.objects
	some c in k8s.containers(obj)
	image := object.get(c, "image", "")
	not allowed(image)
	patterns := _shown_patterns
	msg := sprintf("container %q runs image %q from a registry that is not allowed (allowed: %s)", [c.name, image, patterns])
	fix := "Mirror the image into an allowed registry, or add its repository to kustodian_policy.registries in policies/data.yaml"
	# "field" (relative to the container) lets kustodian point at the line that sets the image:
	# the base manifest or the overlay's `images:` entry.
	result := object.union(k8s.result("allowed-registries", "high", "supply-chain", obj, c.name, msg, fix), {"field": "image"})
}
