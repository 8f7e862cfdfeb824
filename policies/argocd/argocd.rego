# Argo CD guard rails: production Applications (and the ApplicationSet templates that
# generate them) are synced by a human, and an AppProject never allows `*` sources or
# destinations.
package argocd

import rego.v1

import data.lib.k8s
import data.lib.names

_is_argo(obj) if startswith(object.get(obj, "apiVersion", ""), "argoproj.io/")

# automated(sync_policy): the policy enables automated sync (Argo CD 3 also has
# `automated.enabled: false`, which turns it off again).
automated(sync_policy) if {
	auto := sync_policy.automated
	is_object(auto)
	object.get(auto, "enabled", true) != false
}

_app_sources(spec) := array.concat([s | s := spec.source], object.get(spec, "sources", []))

# targets_prod(obj, spec): an Application spec deploys to production, judged by its env
# labels, names, destination namespace/cluster and source paths, or by the env kustodian
# passed for the file.
targets_prod(obj, spec) if names.mentions_prod(k8s.env)

targets_prod(obj, spec) if {
	some key in ["env", "environment", "kustodian.io/env", "app.kubernetes.io/environment"]
	names.mentions_prod(object.get(obj, ["metadata", "labels", key], ""))
}

targets_prod(obj, spec) if names.mentions_prod(object.get(obj, ["metadata", "name"], ""))

targets_prod(obj, spec) if {
	some field in ["namespace", "name", "server"]
	names.mentions_prod(object.get(spec, ["destination", field], ""))
}

targets_prod(obj, spec) if {
	some source in _app_sources(spec)
	names.mentions_prod(object.get(source, "path", ""))
}

deny contains result if {
	some obj in k8s.objects
	_is_argo(obj)
	obj.kind == "Application"
	automated(obj.spec.syncPolicy)
	targets_prod(obj, obj.spec)
	msg := sprintf("production Application %q is auto-synced (spec.syncPolicy.automated); production changes must be synced by a person", [obj.metadata.name])
	fix := "Remove spec.syncPolicy.automated from the production Application and sync it manually (argocd app sync) after review"
	result := k8s.result("argocd-prod-no-auto-sync", "high", "policy", obj, "", msg, fix)
}

# An ApplicationSet generates production Applications when its template says so, or
# when one of its generators (recursively through matrix/merge) can yield a prod element.
_generators_reach_prod(generators) if {
	walk(generators, [_, gen])
	is_object(gen)
	_generator_reaches_prod(gen)
}

_generator_reaches_prod(gen) if names.any_mentions_prod(object.get(gen, ["list", "elements"], []))

# git directories/files: an included pattern naming prod, or a wildcard not excluding prod.
_generator_reaches_prod(gen) if {
	some kind in ["directories", "files"]
	some entry in object.get(gen, ["git", kind], [])
	not object.get(entry, "exclude", false)
	names.mentions_prod(entry.path)
}

_generator_reaches_prod(gen) if {
	some kind in ["directories", "files"]
	entries := object.get(gen, ["git", kind], [])
	some entry in entries
	not object.get(entry, "exclude", false)
	contains(entry.path, "*")
	not _excludes_prod(entries)
}

_generator_reaches_prod(gen) if names.any_mentions_prod(object.get(gen, ["clusters", "selector"], {}))

_excludes_prod(entries) if {
	some entry in entries
	object.get(entry, "exclude", false) == true
	names.mentions_prod(entry.path)
}

_appset_targets_prod(obj) if targets_prod(obj.spec.template, obj.spec.template.spec)

_appset_targets_prod(obj) if _generators_reach_prod(object.get(obj.spec, "generators", []))

deny contains result if {
	some obj in k8s.objects
	_is_argo(obj)
	obj.kind == "ApplicationSet"
	automated(obj.spec.template.spec.syncPolicy)
	_appset_targets_prod(obj)
	msg := sprintf("ApplicationSet %q auto-syncs the Applications it generates, production ones included (spec.template.spec.syncPolicy.automated)", [obj.metadata.name])
	fix := "Drop syncPolicy.automated from the template, or set it per element with templatePatch so production elements stay manual"
	result := k8s.result("argocd-prod-no-auto-sync", "high", "policy", obj, "", msg, fix)
}

# templatePatch is a Go template: when it turns on automated sync and the set reaches
# prod, kustodian cannot prove prod stays manual, so it says so.
warn contains result if {
	some obj in k8s.objects
	_is_argo(obj)
	obj.kind == "ApplicationSet"
	not automated(object.get(obj.spec.template.spec, "syncPolicy", {}))
	contains(object.get(obj.spec, "templatePatch", ""), "automated")
	_appset_targets_prod(obj)
	msg := sprintf("ApplicationSet %q turns on automated sync in spec.templatePatch and generates production Applications; check that production elements stay manual", [obj.metadata.name])
	fix := "Make the templatePatch condition exclude production elements explicitly, or keep automated sync out of this ApplicationSet"
	result := k8s.result("argocd-prod-no-auto-sync", "medium", "policy", obj, "", msg, fix)
}

deny contains result if {
	some obj in k8s.objects
	_is_argo(obj)
	obj.kind == "AppProject"
	some i, repo in object.get(obj.spec, "sourceRepos", [])
	trim_space(repo) == "*"
	msg := sprintf("AppProject %q allows any source repository (spec.sourceRepos[%d] is \"*\")", [obj.metadata.name, i])
	fix := "List the repositories this project may deploy from, e.g. the URL of this GitOps repository"
	result := k8s.result("argocd-project-no-wildcard-sources", "high", "policy", obj, "", msg, fix)
}

deny contains result if {
	some obj in k8s.objects
	_is_argo(obj)
	obj.kind == "AppProject"
	some i, dest in object.get(obj.spec, "destinations", [])
	some field in ["namespace", "server", "name"]
	trim_space(object.get(dest, field, "")) == "*"
	msg := sprintf("AppProject %q allows any destination %s (spec.destinations[%d].%s is \"*\")", [obj.metadata.name, field, i, field])
	fix := sprintf("Name the exact %s this project may deploy to", [field])
	result := k8s.result("argocd-project-no-wildcard-destinations", "high", "policy", obj, "", msg, fix)
}
