"""Canary steps as edits of the canary overlay: image, route weights and canary replicas.

The weights live in a patch of the canary overlay (inline `patch:` or a `path:` file; JSON6902
ops ending in `/weight`, or a strategic-merge HTTPRoute with backendRefs). Which weight is the
canary's is read from the rendered HTTPRoute: the backend Service selecting `track: canary`
(or named *canary*). Canary replicas come from the kustomization's `replicas:` field or a
`/spec/replicas` op on the canary Deployment; if neither exists, a `replicas:` entry is added.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kustodian.errors import KustodianError
from kustodian.release.bump import check_version_for_env, find_entries, plan_image
from kustodian.release.changes import ChangeSet
from kustodian.release.config import ReleaseConfig
from kustodian.release.kustomization import (
    YamlFile,
    local_kustomizations,
    rendered_objects,
    with_pending,
)
from kustodian.release.reference import ImageVersion
from kustodian.release.slots import (
    Slot,
    plan_ints,
    replicas_field_slots,
    short_name,
    step_changes,
)
from kustodian.release.yamlsplice import (
    SplicedText,
    block_sequence_indent,
    compose,
    mapping_get,
    scalar_text,
)

PATCH_FIELDS = ("patches", "patchesJson6902", "patchesStrategicMerge")


@dataclass
class PatchDoc:
    file: YamlFile
    target: dict                     # the patch's target selector (kind, name, ...)
    root: Node                       # parsed patch content
    text: str
    outer_path: tuple | None         # inline patch: path of the string in the kustomization
    inner_node: ScalarNode | None


@dataclass
class CanaryState:
    config: ReleaseConfig
    env: str
    overlay: str
    files: list[YamlFile]
    canary_weights: list[Slot]
    stable_weights: list[Slot]
    replicas: list[Slot]
    deployment: str                  # rendered name of the canary Deployment
    replicas_now: int

    @property
    def weight(self) -> int:
        values = {slot.value for slot in self.canary_weights}
        if len(values) != 1:
            raise KustodianError(f"the canary weights of {self.overlay} disagree: {values}")
        return values.pop()

    @property
    def running(self) -> bool:
        return self.replicas_now > 0 or self.weight > 0


def _patch_docs(config: ReleaseConfig, kfile: YamlFile) -> list[PatchDoc]:
    docs: list[PatchDoc] = []
    if not isinstance(kfile.root, MappingNode):
        return docs
    for field in PATCH_FIELDS:
        pair = mapping_get(kfile.root, field)
        if not pair or not isinstance(pair[1], SequenceNode):
            continue
        for index, item in enumerate(pair[1].value):
            target: dict = {}
            if isinstance(item, ScalarNode):          # patchesStrategicMerge: a path or inline
                docs.extend(_load_patch(config, kfile, item, (field, index), target))
                continue
            if not isinstance(item, MappingNode):
                continue
            tpair = mapping_get(item, "target")
            if tpair and isinstance(tpair[1], MappingNode):
                target = {k.value: scalar_text(v) for k, v in tpair[1].value}
            inline = mapping_get(item, "patch")
            path = mapping_get(item, "path")
            if inline and isinstance(inline[1], ScalarNode):
                docs.extend(_inline_patch(kfile, inline[1], (field, index, "patch"), target))
            elif path and isinstance(path[1], ScalarNode):
                docs.extend(_load_patch(config, kfile, path[1], None, target))
    return docs


def _inline_patch(kfile: YamlFile, node: ScalarNode, outer: tuple, target: dict) -> list[PatchDoc]:
    root = compose(node.value, f"{kfile.rel}:{node.start_mark.line + 1} (inline patch)")
    return [PatchDoc(kfile, target, root, node.value, outer, node)] if root is not None else []


def _load_patch(config: ReleaseConfig, kfile: YamlFile, node: ScalarNode, outer: tuple | None,
                target: dict) -> list[PatchDoc]:
    value = node.value
    if "\n" in value or value.lstrip().startswith(("{", "[", "apiVersion", "kind", "- ")):
        return _inline_patch(kfile, node, outer, target) if outer else []
    path = Path(os.path.realpath(kfile.path.parent / value))
    if not path.is_file():
        return []
    patch_file = YamlFile.load(path, config)
    if patch_file.root is None:
        return []
    return [PatchDoc(patch_file, target, patch_file.root, patch_file.text, None, None)]


def _int_slots(doc: PatchDoc, suffix: str) -> list[tuple[Slot, str]]:
    """JSON6902 ops whose path ends with `suffix`: (slot for the value, the op's path)."""
    found = []
    if not isinstance(doc.root, SequenceNode):
        return found
    for index, op in enumerate(doc.root.value):
        path = scalar_text(mapping_get(op, "path")[1]) if mapping_get(op, "path") else None
        value = mapping_get(op, "value")
        kind = scalar_text(mapping_get(op, "op")[1]) if mapping_get(op, "op") else None
        if path and path.endswith(suffix) and kind in ("replace", "add") and value \
                and isinstance(value[1], ScalarNode):
            found.append((_slot(doc, value[1], (index, "value")), path))
    return found


def _slot(doc: PatchDoc, node: ScalarNode, inner_path: tuple) -> Slot:
    if doc.outer_path is None:
        return Slot(doc.file, node, inner_path)
    return Slot(doc.file, node, inner_path, doc.outer_path, doc.text, doc.inner_node)


def _smp_backend_slots(doc: PatchDoc) -> list[tuple[Slot, str]]:
    """Strategic-merge HTTPRoute patches: (weight slot, backend name)."""
    found = []
    root = doc.root
    kind = mapping_get(root, "kind") if isinstance(root, MappingNode) else None
    if not kind or scalar_text(kind[1]) != "HTTPRoute":
        return found
    rules = _get_path(root, ("spec", "rules"))
    for r, rule in enumerate(rules.value if isinstance(rules, SequenceNode) else []):
        refs = _get_path(rule, ("backendRefs",))
        for b, ref in enumerate(refs.value if isinstance(refs, SequenceNode) else []):
            weight, name = mapping_get(ref, "weight"), mapping_get(ref, "name")
            if weight and name and isinstance(weight[1], ScalarNode):
                path = ("spec", "rules", r, "backendRefs", b, "weight")
                found.append((_slot(doc, weight[1], path), scalar_text(name[1]) or ""))
    return found


def _get_path(node: Node, path: tuple) -> Node | None:
    for key in path:
        pair = mapping_get(node, key) if isinstance(node, MappingNode) else None
        if not pair:
            return None
        node = pair[1]
    return node


def _canary_services(objects: list[dict]) -> set[str]:
    names = set()
    for obj in objects:
        if obj.get("kind") == "Service":
            selector = (obj.get("spec") or {}).get("selector") or {}
            name = (obj.get("metadata") or {}).get("name", "")
            if selector.get("track") == "canary" or "canary" in name:
                names.add(name)
    return names


def _canary_deployments(objects: list[dict]) -> list[dict]:
    found = []
    for obj in objects:
        if obj.get("kind") != "Deployment":
            continue
        labels = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get(
            "labels") or {}
        if labels.get("track") == "canary":
            found.append(obj)
    return found


def _pointer_get(obj: object, pointer: str) -> object:
    for part in pointer.strip("/").split("/")[:-1]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        elif isinstance(obj, dict):
            obj = obj.get(part)
        else:
            return None
    return obj


def load_state(config: ReleaseConfig, env: str) -> CanaryState:
    """Find the canary overlay's weight and replica settings for `env`."""
    overlay = config.canary_overlay(env).path
    files = local_kustomizations(config.root / overlay, config)
    objects = rendered_objects(config, overlay)
    canary_services = _canary_services(objects)
    deployments = _canary_deployments(objects)
    if len(deployments) != 1:
        raise KustodianError(f"{overlay} renders {len(deployments)} Deployments with pod label "
                             "track: canary; expected exactly one")
    deployment = deployments[0]
    dep_name = deployment["metadata"]["name"]
    routes = {(o.get("metadata") or {}).get("name"): o for o in objects if o.get("kind") ==
              "HTTPRoute"}
    canary_w, stable_w, replicas = [], [], []
    for kfile in files:
        for doc in _patch_docs(config, kfile):
            kind = doc.target.get("kind")
            for slot, pointer in _int_slots(doc, "/weight"):
                route = routes.get(doc.target.get("name")) or (
                    next(iter(routes.values())) if len(routes) == 1 else None)
                backend = _pointer_get(route, pointer) if route else None
                name = backend.get("name", "") if isinstance(backend, dict) else ""
                (canary_w if name in canary_services else stable_w).append(slot)
            if kind in (None, "Deployment"):
                for slot, _ in _int_slots(doc, "/spec/replicas"):
                    target_name = doc.target.get("name") or ""
                    if target_name == dep_name or "canary" in target_name:
                        slot.role = "replicas"
                        replicas.append(slot)
            for slot, name in _smp_backend_slots(doc):
                (canary_w if name in canary_services else stable_w).append(slot)
        replicas.extend(replicas_field_slots(kfile, dep_name))
    if not canary_w or not stable_w:
        raise KustodianError(
            f"{overlay} has no route weight patch with both a stable and a canary backend",
            hint="the canary overlay holds one JSON6902 patch setting the stable and the canary "
                 "backendRefs weights (docs/architecture.md)")
    replicas_now = int((deployment.get("spec") or {}).get("replicas", 1))
    return CanaryState(config, env, overlay, files, canary_w, stable_w, replicas, dep_name,
                       replicas_now)


def _plan_state(changes: ChangeSet, state: CanaryState, weight: int, replicas: int) -> None:
    edits = [(s, weight) for s in state.canary_weights]
    edits += [(s, 100 - weight) for s in state.stable_weights]
    if state.replicas:
        edits += [(s, replicas) for s in state.replicas]
        plan_ints(changes, edits)
        return
    plan_ints(changes, edits)
    if state.replicas_now != replicas:
        _add_replicas_entry(changes, state, replicas)


def _add_replicas_entry(changes: ChangeSet, state: CanaryState, replicas: int) -> None:
    """No replica setting in the overlay yet: add `replicas: [{name, count}]` to it."""
    kfile = with_pending(state.files[0], changes)
    sp = SplicedText(kfile.text, kfile.rel)
    pairs = [("name", state.deployment), ("count", str(replicas))]
    values = {"name": state.deployment, "count": replicas}
    pair = mapping_get(kfile.root, "replicas")
    if pair and isinstance(pair[1], SequenceNode):
        sp.append_mapping_item(pair[1], pairs, ("replicas",), values)
    else:
        sp.add_sequence_key(kfile.root, "replicas", pairs, (), values,
                            block_sequence_indent(kfile.root))
    changes.add(kfile.path, kfile.rel, kfile.raw, kfile.encode(sp.result()))


def plan_start(config: ReleaseConfig, env: str, version: ImageVersion,
               weight: int | None) -> ChangeSet:
    state = load_state(config, env)
    check_version_for_env(config, env, version)
    if not version.digest:
        raise KustodianError("canary start needs --digest")
    first = config.canary_steps[0] if weight is None else weight
    _, entries = find_entries(config, state.overlay, config.canary_image)
    current = entries[0].version if entries else ImageVersion()
    if state.running and current != version:
        raise KustodianError(
            f"a canary of {current} is already running in {env} (weight {state.weight})",
            hint=f"finish it first: kustodian canary promote|abort --env {env}")
    changes = step_changes(state, "canary start", f"weight {state.weight}",
                       f"{version} weight {first}")
    changes.slug = f"canary-{version.short()}"
    changes.subject = (f"chore(release): start canary of {short_name(config.image)} {version} in "
                       f"{env} at weight {first}")
    _plan_state(changes, state, first, max(1, state.replicas_now))
    plan_image(config, state.overlay, config.canary_image, version, changes,
               new_name=config.image)
    return changes


def plan_weight(config: ReleaseConfig, env: str, weight: str) -> ChangeSet:
    state = load_state(config, env)
    if state.replicas_now <= 0:
        raise KustodianError(f"no canary is running in {env} (canary replicas 0)",
                             hint=f"start one: kustodian canary start --env {env} --digest ...")
    now = state.weight
    if weight == "next":
        later = [s for s in config.canary_steps if s > now]
        if not later:
            raise KustodianError(f"the canary in {env} is at the last step ({now})",
                                 hint=f"kustodian canary promote --env {env}")
        value = later[0]
    else:
        value = int(weight)
    if not 0 <= value <= 100:
        raise KustodianError(f"weight {value} is outside 0..100")
    changes = step_changes(state, "canary weight", f"weight {now}", f"weight {value}")
    changes.slug = f"canary-weight-{value}"
    changes.subject = f"chore(release): canary weight {now} -> {value} in {env}"
    _plan_state(changes, state, value, state.replicas_now)
    return changes


def plan_promote_canary(config: ReleaseConfig, env: str) -> ChangeSet:
    state = load_state(config, env)
    _, entries = find_entries(config, state.overlay, config.canary_image)
    version = entries[0].version if entries else ImageVersion()
    if version.empty or not state.running:
        raise KustodianError(f"no canary is running in {env}",
                             hint=f"kustodian canary start --env {env} --digest ...")
    check_version_for_env(config, env, version)
    changes = step_changes(state, "canary promote", f"weight {state.weight}", f"stable {version}")
    changes.slug = f"canary-promote-{version.short()}"
    changes.subject = (f"chore(release): promote canary {short_name(config.image)} {version} to "
                       f"stable in {env}")
    changes.overlays = config.env_overlays(env)
    _plan_state(changes, state, 0, 0)
    stable = config.canary_overlay(env).stable or config.stable_overlay(env).path
    plan_image(config, stable.rstrip("/"), config.image, version, changes)
    return changes


def plan_abort(config: ReleaseConfig, env: str) -> ChangeSet:
    state = load_state(config, env)
    changes = step_changes(state, "canary abort", f"weight {state.weight}", "weight 0")
    changes.slug = "canary-abort"
    changes.subject = f"chore(release): abort canary in {env} (weight {state.weight} -> 0)"
    _plan_state(changes, state, 0, 0)
    return changes
