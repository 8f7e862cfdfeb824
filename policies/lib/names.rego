# Name matching shared by the policies: environment tokens and image repositories.
package lib.names

import rego.v1

# The production environment names, lower-cased (data.kustodian_policy.prod_envs).
default _configured := ["prod", "production"]

_configured := data.kustodian_policy.prod_envs

prod_envs := {lower(e) | some e in _configured}

# mentions_prod(s): a string names a production environment as a whole token, e.g.
# "prod", "overlays/prod-canary", "agent-prod"; but not "products" or "preprod".
mentions_prod(s) if {
	is_string(s)
	some token in regex.split(`[^a-z0-9]+`, lower(s))
	prod_envs[token]
}

# any_mentions_prod(value): some string anywhere inside value mentions prod.
any_mentions_prod(value) if {
	walk(value, [_, leaf])
	mentions_prod(leaf)
}

# image_repository(image) is the image's normalised repository: registry/path with no
# tag or digest, Docker Hub shorthands expanded ("redis:7" -> "docker.io/library/redis").
image_repository(image) := repo if {
	no_digest := split(image, "@")[0]
	parts := split(no_digest, "/")
	last := parts[count(parts) - 1]
	path := array.concat(array.slice(parts, 0, count(parts) - 1), [split(last, ":")[0]])
	repo := _qualify(path)
}

_qualify(path) := concat("/", path) if {
	count(path) > 1
	_is_registry(path[0])
}

_qualify(path) := concat("/", array.concat(["docker.io"], path)) if {
	count(path) > 1
	not _is_registry(path[0])
}

_qualify(path) := concat("/", ["docker.io", "library", path[0]]) if count(path) == 1

_is_registry(host) if contains(host, ".")

_is_registry(host) if contains(host, ":")

_is_registry("localhost")
