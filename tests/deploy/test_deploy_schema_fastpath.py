"""The validator's fast checker must agree with jsonschema on every verdict: thousands of
random mutations of the real rendered resources (wrong types, unknown fields, removed
fields, out-of-enum values), each judged by both."""

from __future__ import annotations

import copy
import random

import pytest
from deploy_helpers import RENDERABLE

MUTANTS = ["text", 7, 1.5, True, None, [], {}, {"unknownField": 1}, ["x"], -1, "", "=="]


def paths_of(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths_of(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from paths_of(value, (*prefix, i))


def mutate(resource: dict, rng: random.Random) -> dict:
    doc = copy.deepcopy(resource)
    path = rng.choice([p for p in paths_of(doc) if len(p) >= 2])
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    action = rng.random()
    if action < 0.5:
        parent[last] = copy.deepcopy(rng.choice(MUTANTS))
    elif action < 0.75 and isinstance(parent, dict):
        del parent[last]
    elif isinstance(parent[last], dict):
        parent[last][rng.choice(["bogus", "spec", "name", "type"])] = rng.choice(MUTANTS)
    else:
        parent[last] = copy.deepcopy(rng.choice(MUTANTS))
    return doc


@pytest.mark.parametrize("path", RENDERABLE)
def test_fast_checker_agrees_with_jsonschema(path, render, validator):
    rng = random.Random(f"fastpath-{path}")
    resources = render(path)
    checked = rejected = 0
    for _ in range(400):
        resource = rng.choice(resources)
        doc = mutate(resource, rng)
        entry = validator._validator_for(doc.get("apiVersion"), doc.get("kind"))
        if entry is None or not isinstance(doc.get("apiVersion"), str):
            continue
        targets = [(entry, doc)]
        if entry.is_crd and isinstance(doc.get("metadata"), dict):
            targets.append((validator._meta, doc["metadata"]))
        for kind, instance in targets:
            assert kind.fast is not None, f"{doc['kind']} has no fast checker"
            slow_ok = not any(True for _ in kind.validator.iter_errors(instance))
            assert kind.fast(instance) == slow_ok, (doc["kind"], instance)
            checked += 1
            rejected += not slow_ok
    assert checked > 300 and rejected > 100      # the mutations really exercise both verdicts
