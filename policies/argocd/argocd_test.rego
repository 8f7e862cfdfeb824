package argocd_test

import rego.v1

import data.argocd

rules(results) := {r.rule | some r in results}

app(name, path, namespace, sync) := {
	"apiVersion": "argoproj.io/v1alpha1",
	"kind": "Application",
	"metadata": {"name": name, "namespace": "argocd"},
	"spec": {
		"project": "agent",
		"source": {"repoURL": "https://git.example/acme/agent-gitops.git", "path": path, "targetRevision": "main"},
		"destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
		"syncPolicy": sync,
	},
}

auto := {"automated": {"prune": true, "selfHeal": true}}

manual := {"syncOptions": ["CreateNamespace=false"]}

test_prod_application_auto_synced_fails if {
	some r in argocd.deny with input as app("agent-prod", "overlays/prod-canary", "agent-prod", auto)
	r.rule == "argocd-prod-no-auto-sync"
	r.kind == "Application"
	r.name == "agent-prod"
}

test_prod_detected_from_path_alone if {
	"argocd-prod-no-auto-sync" in rules(argocd.deny) with input as app("agent-live", "overlays/prod", "agent", auto)
}

test_prod_detected_from_destination_namespace if {
	"argocd-prod-no-auto-sync" in rules(argocd.deny) with input as app("agent-live", "deploy", "production", auto)
}

test_prod_detected_from_file_env if {
	"argocd-prod-no-auto-sync" in rules(argocd.deny) with input as app("agent-live", "deploy", "agent", auto)
		with data.kustodian.env as "prod"
}

test_prod_application_manual_sync_passes if {
	count(argocd.deny) == 0 with input as app("agent-prod", "overlays/prod-canary", "agent-prod", manual)
}

test_automated_disabled_counts_as_manual if {
	count(argocd.deny) == 0 with input as app("agent-prod", "overlays/prod", "agent-prod", {"automated": {"enabled": false}})
}

test_dev_application_may_auto_sync if {
	count(argocd.deny) == 0 with input as app("agent-dev", "overlays/dev", "agent-dev", auto)
}

test_prod_token_is_whole_word if {
	count(argocd.deny) == 0 with input as app("products", "overlays/preprod", "reproduce", auto)
}

test_applications_inside_a_list_are_checked if {
	list := {"apiVersion": "v1", "kind": "List", "items": [app("agent-prod", "overlays/prod", "agent-prod", auto)]}
	"argocd-prod-no-auto-sync" in rules(argocd.deny) with input as list
}

appset(generators, sync) := {
	"apiVersion": "argoproj.io/v1alpha1",
	"kind": "ApplicationSet",
	"metadata": {"name": "agent", "namespace": "argocd"},
	"spec": {
		"generators": generators,
		"template": {
			"metadata": {"name": "agent-{{.env}}"},
			"spec": {
				"project": "agent",
				"source": {"repoURL": "https://git.example/acme/agent-gitops.git", "path": "{{.path}}"},
				"destination": {"server": "https://kubernetes.default.svc", "namespace": "agent-{{.env}}"},
				"syncPolicy": sync,
			},
		},
	},
}

list_gen(envs) := [{"list": {"elements": [{"env": e, "path": sprintf("overlays/%s", [e])} | some e in envs]}}]

test_appset_auto_sync_with_prod_element_fails if {
	some r in argocd.deny with input as appset(list_gen(["dev", "staging", "prod"]), auto)
	r.rule == "argocd-prod-no-auto-sync"
	r.kind == "ApplicationSet"
}

test_appset_auto_sync_without_prod_passes if {
	count(argocd.deny) == 0 with input as appset(list_gen(["dev", "staging"]), auto)
}

test_appset_manual_with_prod_passes if {
	count(argocd.deny) == 0 with input as appset(list_gen(["dev", "prod"]), manual)
}

test_appset_git_wildcard_reaches_prod if {
	gens := [{"git": {"repoURL": "x", "revision": "main", "directories": [{"path": "overlays/*"}]}}]
	"argocd-prod-no-auto-sync" in rules(argocd.deny) with input as appset(gens, auto)
}

test_appset_git_wildcard_excluding_prod_passes if {
	gens := [{"git": {"repoURL": "x", "revision": "main", "directories": [
		{"path": "overlays/*"},
		{"path": "overlays/prod*", "exclude": true},
	]}}]
	count(argocd.deny) == 0 with input as appset(gens, auto)
}

test_appset_nested_matrix_generator_reaches_prod if {
	gens := [{"matrix": {"generators": [
		{"clusters": {"selector": {"matchLabels": {"tier": "app"}}}},
		{"list": {"elements": [{"env": "prod"}]}},
	]}}]
	"argocd-prod-no-auto-sync" in rules(argocd.deny) with input as appset(gens, auto)
}

test_appset_template_patch_automated_warns if {
	set := json.patch(appset(list_gen(["dev", "prod"]), manual), [{"op": "add", "path": "/spec/templatePatch", "value": "{{- if ne .env \"prod\" }}\nspec:\n  syncPolicy:\n    automated: {}\n{{- end }}\n"}])
	count(argocd.deny) == 0 with input as set
	some r in argocd.warn with input as set
	r.rule == "argocd-prod-no-auto-sync"
}

project(spec) := {
	"apiVersion": "argoproj.io/v1alpha1",
	"kind": "AppProject",
	"metadata": {"name": "agent", "namespace": "argocd"},
	"spec": spec,
}

good_project := project({
	"sourceRepos": ["https://git.example/acme/agent-gitops.git"],
	"destinations": [{"server": "https://kubernetes.default.svc", "namespace": "agent-prod"}],
})

test_scoped_project_passes if {
	count(argocd.deny) == 0 with input as good_project
}

test_wildcard_source_repo_fails if {
	bad := json.patch(good_project, [{"op": "add", "path": "/spec/sourceRepos/-", "value": "*"}])
	some r in argocd.deny with input as bad
	r.rule == "argocd-project-no-wildcard-sources"
	contains(r.msg, "sourceRepos[1]")
}

test_wildcard_destination_fields_fail if {
	some field in ["namespace", "server", "name"]
	bad := json.patch(good_project, [{"op": "add", "path": sprintf("/spec/destinations/0/%s", [field]), "value": "*"}])
	some r in argocd.deny with input as bad
	r.rule == "argocd-project-no-wildcard-destinations"
	contains(r.msg, field)
}

test_every_wildcard_destination_field_is_reported if {
	bad := project({"sourceRepos": ["x"], "destinations": [{"server": "*", "namespace": "*"}]})
	count({r | some r in argocd.deny with input as bad; r.rule == "argocd-project-no-wildcard-destinations"}) == 2
}

test_non_argo_objects_are_ignored if {
	count(argocd.deny) == 0 with input as {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "prod"}}
}
