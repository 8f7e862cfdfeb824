# Dockerfile rules. conftest's dockerfile parser gives the instructions as a list of
# {Cmd, Flags, Value, Stage, ...}; every result carries `index`, the position of the
# offending instruction in that list, and `occurrence`, how many instructions of the same
# kind come before it; kustodian maps them back to the instruction's line.
package dockerfile

import rego.v1

_result(rule, severity, index, msg, fix) := {
	"msg": msg,
	"rule": rule,
	"severity": severity,
	"category": "supply-chain",
	"remediation": fix,
	"index": index,
	"instruction": upper(input[index].Cmd),
	"occurrence": _occurrence(index),
}

# How many instructions with the same command come before input[i].
_occurrence(i) := n if {
	cmd := input[i].Cmd
	n := count([j | some j, other in input; other.Cmd == cmd; j < i])
}

_pod_security_result(rule, index, msg, fix) := object.union(
	_result(rule, "high", index, msg, fix),
	{"category": "pod-security"},
)

final_stage := max({instr.Stage | some instr in input})

# Index of each FROM instruction, by stage.
from_index[stage] := i if {
	some i, instr in input
	instr.Cmd == "from"
	stage := instr.Stage
}

# Stage names declared with `FROM image AS name` (lower-case).
aliases[lower(instr.Value[2])] := instr.Stage if {
	some instr in input
	instr.Cmd == "from"
	count(instr.Value) >= 3
	lower(instr.Value[1]) == "as"
}

# Build arguments declared before the first FROM with a default value.
global_args[name] := value if {
	some i, instr in input
	instr.Cmd == "arg"
	i < min({j | some j, x in input; x.Cmd == "from"})
	some decl in instr.Value
	contains(decl, "=")
	name := split(decl, "=")[0]
	value := substring(decl, count(name) + 1, -1)
}

_substitute(image) := strings.replace_n(
	object.union(
		{sprintf("${%s}", [k]): v | some k, v in global_args},
		{sprintf("$%s", [k]): v | some k, v in global_args},
	),
	image,
)

# --- base images pinned by tag and digest -------------------------------------------

_is_stage_ref(ref) if aliases[lower(ref)]

_is_stage_ref(ref) if regex.match(`^[0-9]+$`, ref)

_has_digest(image) if regex.match(`@sha256:[a-f0-9]{64}$`, image)

_has_tag(image) if {
	last := split(split(image, "@")[0], "/")
	contains(last[count(last) - 1], ":")
}

_pin_problem(image) := "uses a build argument without a default; the image cannot be verified" if contains(image, "$")

_pin_problem(image) := "has no tag and no digest" if {
	not contains(image, "$")
	not _has_tag(image)
	not _has_digest(image)
}

_pin_problem(image) := "is not pinned by digest (@sha256:...)" if {
	not contains(image, "$")
	_has_tag(image)
	not _has_digest(image)
}

_pin_problem(image) := "has a digest but no tag (keep the tag for readers: name:tag@sha256:...)" if {
	not contains(image, "$")
	not _has_tag(image)
	_has_digest(image)
}

_pin_fix := "Pin the image as name:tag@sha256:<digest> (e.g. `crane digest name:tag` prints the digest)"

deny contains result if {
	some i, instr in input
	instr.Cmd == "from"
	image := _substitute(instr.Value[0])
	lower(image) != "scratch"
	not _is_stage_ref(image)
	problem := _pin_problem(image)
	msg := sprintf("base image %q %s", [_shown(instr.Value[0], image), problem])
	result := _result("dockerfile-pinned-base-image", "high", i, msg, _pin_fix)
}

deny contains result if {
	some i, instr in input
	instr.Cmd == "copy"
	some flag in instr.Flags
	startswith(flag, "--from=")
	image := _substitute(substring(flag, 7, -1))
	not _is_stage_ref(image)
	problem := _pin_problem(image)
	msg := sprintf("COPY --from image %q %s", [image, problem])
	result := _result("dockerfile-pinned-base-image", "high", i, msg, _pin_fix)
}

_shown(raw, image) := raw if raw == image

_shown(raw, image) := sprintf("%s (= %s)", [raw, image]) if raw != image

# --- no ADD from URLs -----------------------------------------------------------------

_is_remote(src) if regex.match(`^(?i)(https?|ftp|git)://`, src)

_is_remote(src) if startswith(src, "git@")

deny contains result if {
	some i, instr in input
	instr.Cmd == "add"
	some j, src in instr.Value
	j < count(instr.Value) - 1
	_is_remote(src)
	msg := sprintf("ADD fetches %q from the network at build time (unverified, not reproducible)", [src])
	fix := "Download the file in a build stage with a checksum check (or `ADD --checksum=sha256:...`), or COPY it from the build context"
	result := _result("dockerfile-no-add-url", "high", i, msg, fix)
}

# --- a non-root final USER ---------------------------------------------------------------

# The last USER instruction of a stage.
last_user[stage] := i if {
	some stage in {instr.Stage | some instr in input}
	users := {j | some j, instr in input; instr.Cmd == "user"; instr.Stage == stage}
	count(users) > 0
	i := max(users)
}

# The USER in force in the final stage: its own, or the one of the stage it builds on.
final_user := last_user[final_stage]

final_user := last_user[base] if {
	not last_user[final_stage]
	base := aliases[lower(input[from_index[final_stage]].Value[0])]
}

_is_root(user) if {
	name := lower(trim_space(split(user, ":")[0]))
	name in {"root", "0", ""}
}

deny contains result if {
	not final_user
	i := from_index[final_stage]
	msg := "the final stage has no USER instruction, so the container runs as root"
	fix := "Add `USER 10001:10001` (a numeric non-root UID:GID) at the end of the final stage"
	result := _pod_security_result("dockerfile-non-root-user", i, msg, fix)
}

deny contains result if {
	i := final_user
	_is_root(input[i].Value[0])
	msg := sprintf("the final USER is %q: the container runs as root", [input[i].Value[0]])
	fix := "Switch to a non-root user, e.g. `USER 10001:10001`, after the steps that need root"
	result := _pod_security_result("dockerfile-non-root-user", i, msg, fix)
}

# --- HEALTHCHECK present -------------------------------------------------------------------

_has_healthcheck(stage) if {
	some instr in input
	instr.Cmd == "healthcheck"
	instr.Stage == stage
	upper(instr.Value[0]) != "NONE"
}

_healthcheck_ok if _has_healthcheck(final_stage)

_healthcheck_ok if {
	base := aliases[lower(input[from_index[final_stage]].Value[0])]
	_has_healthcheck(base)
}

deny contains result if {
	not _healthcheck_ok
	i := from_index[final_stage]
	msg := "the final stage has no HEALTHCHECK (or disables it with HEALTHCHECK NONE)"
	fix := "Add e.g. `HEALTHCHECK CMD [\"python\", \"-c\", \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')\"]`"
	result := object.union(_result("dockerfile-healthcheck", "medium", i, msg, fix), {"category": "reliability"})
}
