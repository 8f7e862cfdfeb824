package dockerfile_test

import rego.v1

import data.dockerfile

digest := "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

pinned := sprintf("ghcr.io/acme/python:3.11-slim@%s", [digest])

# A compact Dockerfile builder: [cmd, values, stage] -> conftest's instruction objects.
df(lines) := [{"Cmd": l[0], "Flags": _flags(l), "JSON": false, "Stage": l[2], "SubCmd": "", "Value": l[1]} | some l in lines]

_flags(l) := l[3] if {
	count(l) > 3
} else := []

good := df([
	["from", [pinned, "AS", "build"], 0],
	["run", ["pip install ."], 0],
	["from", [pinned], 1],
	["copy", ["/a", "/b"], 1, ["--from=build"]],
	["user", ["10001:10001"], 1],
	["healthcheck", ["CMD", "python", "-c", "pass"], 1],
])

rules(results) := {r.rule | some r in results}

test_good_dockerfile_passes if {
	count(dockerfile.deny) == 0 with input as good
}

test_unpinned_base_image_fails if {
	bad := json.patch(good, [{"op": "replace", "path": "/2/Value/0", "value": "python:3.11-slim"}])
	results := dockerfile.deny with input as bad
	some r in results
	r.rule == "dockerfile-pinned-base-image"
	r.index == 2
	contains(r.msg, "not pinned by digest")
}

test_untagged_base_image_fails if {
	bad := json.patch(good, [{"op": "replace", "path": "/0/Value/0", "value": "python"}])
	some r in dockerfile.deny with input as bad
	r.rule == "dockerfile-pinned-base-image"
	contains(r.msg, "no tag and no digest")
}

test_digest_without_tag_fails if {
	bad := json.patch(good, [{"op": "replace", "path": "/0/Value/0", "value": sprintf("python@%s", [digest])}])
	some r in dockerfile.deny with input as bad
	contains(r.msg, "digest but no tag")
}

test_stage_reference_and_scratch_are_not_images if {
	ok := df([
		["from", [pinned, "AS", "build"], 0],
		["from", ["build", "AS", "final"], 1],
		["user", ["app"], 1],
		["healthcheck", ["CMD", "true"], 1],
	])
	count(dockerfile.deny) == 0 with input as ok
	scratch := json.patch(ok, [{"op": "replace", "path": "/1/Value/0", "value": "scratch"}])
	count(dockerfile.deny) == 0 with input as scratch
}

test_build_arg_default_is_resolved if {
	ok := array.concat(df([["arg", [sprintf("BASE=%s", [pinned])], 0]]), df([
		["from", ["${BASE}"], 0],
		["user", ["10001"], 0],
		["healthcheck", ["CMD", "true"], 0],
	]))
	count(dockerfile.deny) == 0 with input as ok
	bad := json.patch(ok, [{"op": "replace", "path": "/0/Value/0", "value": "BASE=python:3"}])
	"dockerfile-pinned-base-image" in rules(dockerfile.deny) with input as bad
}

test_unresolvable_build_arg_fails if {
	bad := json.patch(good, [{"op": "replace", "path": "/2/Value/0", "value": "$IMAGE"}])
	some r in dockerfile.deny with input as bad
	contains(r.msg, "build argument")
}

test_copy_from_external_image_must_be_pinned if {
	bad := json.patch(good, [{"op": "replace", "path": "/3/Flags/0", "value": "--from=busybox:1.36"}])
	some r in dockerfile.deny with input as bad
	r.rule == "dockerfile-pinned-base-image"
	r.index == 3
}

test_add_from_url_fails if {
	bad := array.concat(good, df([["add", ["https://example.com/tool.tgz", "/opt/"], 1]]))
	some r in dockerfile.deny with input as bad
	r.rule == "dockerfile-no-add-url"
	r.index == 6
}

test_add_local_file_passes if {
	ok := array.concat(good, df([["add", ["vendor.tgz", "/opt/"], 1]]))
	count(dockerfile.deny) == 0 with input as ok
}

test_missing_user_fails_at_final_from if {
	bad := [i | some i in good; i.Cmd != "user"]
	some r in dockerfile.deny with input as bad
	r.rule == "dockerfile-non-root-user"
	r.index == 2
}

test_root_user_fails if {
	some user in ["root", "0", "0:0", "root:wheel"]
	bad := json.patch(good, [{"op": "replace", "path": "/4/Value/0", "value": user}])
	some r in dockerfile.deny with input as bad
	r.rule == "dockerfile-non-root-user"
	r.index == 4
}

test_user_in_earlier_stage_only_does_not_count if {
	bad := json.patch([i | some i in good; i.Cmd != "user"], [{"op": "add", "path": "/1", "value": df([["user", ["10001"], 0]])[0]}])
	"dockerfile-non-root-user" in rules(dockerfile.deny) with input as bad
}

test_root_then_non_root_passes if {
	ok := json.patch(good, [{"op": "add", "path": "/4", "value": df([["user", ["root"], 1]])[0]}])
	count(dockerfile.deny) == 0 with input as ok
}

test_missing_healthcheck_fails if {
	bad := [i | some i in good; i.Cmd != "healthcheck"]
	some r in dockerfile.deny with input as bad
	r.rule == "dockerfile-healthcheck"
	r.index == 2
}

test_healthcheck_none_fails if {
	bad := json.patch(good, [{"op": "replace", "path": "/5/Value", "value": ["NONE"]}])
	"dockerfile-healthcheck" in rules(dockerfile.deny) with input as bad
}

test_results_carry_the_instruction_occurrence if {
	bad := array.concat(good, df([["add", ["https://example.com/a", "/a"], 1], ["add", ["https://example.com/b", "/b"], 1]]))
	occurrences := {r.occurrence | some r in dockerfile.deny with input as bad; r.rule == "dockerfile-no-add-url"}
	occurrences == {0, 1}
}
