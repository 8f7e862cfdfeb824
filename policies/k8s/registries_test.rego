package k8s.registries_test

import rego.v1

import data.k8s.registries
import data.lib.names

deployment(images) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "agent", "namespace": "agent-prod"},
	"spec": {"template": {"spec": {
		"initContainers": [{"name": "init", "image": images[0]}],
		"containers": [{"name": "agent", "image": images[1]}],
	}}},
}

policy := {"prod_envs": ["prod"], "registries": {"allowed": ["ghcr.io/acme/*"], "allowed_by_env": {"dev": ["docker.io/library/*"]}}}

test_image_repository_normalisation if {
	names.image_repository("redis") == "docker.io/library/redis"
	names.image_repository("redis:7.4@sha256:abc") == "docker.io/library/redis"
	names.image_repository("bitnami/redis:7") == "docker.io/bitnami/redis"
	names.image_repository("ghcr.io/acme/agent:1.2.3") == "ghcr.io/acme/agent"
	names.image_repository("localhost:5000/agent:dev") == "localhost:5000/agent"
	names.image_repository("localhost/agent") == "localhost/agent"
}

test_allowed_images_pass if {
	count(registries.deny) == 0 with input as deployment(["ghcr.io/acme/tools:1", "ghcr.io/acme/agent:1.2.3@sha256:abc"])
		with data.kustodian_policy as policy
}

test_disallowed_init_container_image_fails if {
	some r in registries.deny with input as deployment(["busybox:1.36", "ghcr.io/acme/agent:1"])
		with data.kustodian_policy as policy
	r.rule == "allowed-registries"
	r.container == "init"
	r.kind == "Deployment"
	r.namespace == "agent-prod"
}

test_lookalike_registry_fails if {
	some r in registries.deny with input as deployment(["ghcr.io/acme/a:1", "ghcr.io/acme-evil/agent:1"])
		with data.kustodian_policy as policy
	r.container == "agent"
}

test_env_specific_allowance if {
	count(registries.deny) == 0 with input as deployment(["busybox:1", "ghcr.io/acme/a:1"])
		with data.kustodian_policy as policy
		with data.kustodian.env as "dev"
	count(registries.deny) == 1 with input as deployment(["busybox:1", "ghcr.io/acme/a:1"])
		with data.kustodian_policy as policy
		with data.kustodian.env as "prod"
}

test_env_comes_from_per_file_data if {
	count(registries.deny) == 0 with input as deployment(["busybox:1", "ghcr.io/acme/a:1"])
		with data.kustodian_policy as policy
		with data.conftest.file as {"dir": "/tmp/r", "name": "dev.yaml"}
		with data.kustodian.inputs as {"/tmp/r/dev.yaml": {"env": "dev"}}
}

test_cronjob_and_list_items_are_checked if {
	cron := {"kind": "CronJob", "metadata": {"name": "job"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "quay.io/x/y:1"}]}}}}}}
	some r in registries.deny with input as {"kind": "List", "items": [cron]}
		with data.kustodian_policy as policy
	r.kind == "CronJob"
	r.container == "c"
}

test_shipped_data_allows_this_repo if {
	count(registries.deny) == 0 with input as deployment(["ghcr.io/acme/agent:1", "ghcr.io/acme/agent:1"])
	data.kustodian_policy.registries.allowed
}

test_no_configured_registry_denies_everything if {
	some r in registries.deny with input as deployment(["ghcr.io/acme/a:1", "ghcr.io/acme/b:1"])
		with data.kustodian_policy as {"registries": {"allowed": []}}
	contains(r.msg, "none configured")
}
