"""The validator (jsonschema-rs) must agree with the reference Python implementation
(jsonschema) on every verdict and on where the problems are: thousands of random mutations of
the real rendered resources (wrong types, unknown fields, removed fields, out-of-enum values),
each judged by both, against the same Kubernetes and CRD schemas."""

from __future__ import annotations

import copy
import random

import pytest
from deploy_helpers import RENDERABLE
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

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


def reference_of(validator):
    """kind -> the reference validator of the same schema, with the same definitions."""
    registry = Registry().with_resource("https://kubernetes.io/api/_definitions.json",
                                        Resource.from_contents(validator._definitions))
    cache = {}

    def reference(kind):
        if id(kind) not in cache:
            cache[id(kind)] = Draft202012Validator(kind.schema, registry=registry)
        return cache[id(kind)]
    return reference


def paths_of_errors(errors) -> set[tuple]:
    return {tuple(e.absolute_path) for e in errors}


@pytest.mark.parametrize("path", RENDERABLE)
def test_validator_agrees_with_the_reference_implementation(path, render, validator):
    rng = random.Random(f"fastpath-{path}")
    reference = reference_of(validator)
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
            assert kind.broken is None, f"{doc['kind']}: {kind.broken}"
            expected = list(reference(kind).iter_errors(instance))
            assert kind.validator.is_valid(instance) == (not expected), (doc["kind"], instance)
            got = {tuple(e.instance_path) for e in kind.validator.iter_errors(instance)}
            assert got == paths_of_errors(expected), (doc["kind"], instance)
            checked += 1
            rejected += bool(expected)
    assert checked > 300 and rejected > 100      # the mutations really exercise both verdicts
