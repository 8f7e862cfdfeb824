"""Integer edits of an overlay's files, shared by the canary and blue-green steps: the
scalars to change (`Slot`: in a file or inside an inline patch string), the `replicas:`
counts of a Deployment, the byte-minimal splice of new values, the ChangeSet of a step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from kustodian.errors import KustodianError
from kustodian.release.changes import ChangeSet
from kustodian.release.config import ReleaseConfig
from kustodian.release.kustomization import YamlFile
from kustodian.release.yamlsplice import SplicedText, inner_index_mapper, mapping_get, scalar_text


@dataclass
class Slot:
    """One integer scalar to edit: in a file, or inside an inline patch string of a file."""

    file: YamlFile
    node: ScalarNode                 # in `inner_text` when inline, else in the file
    inner_path: tuple                # data path of the scalar in the patch document / file
    outer_path: tuple | None = None  # data path of the inline patch string in the file
    inner_text: str | None = None
    inner_node: ScalarNode | None = None   # the patch string node in the file
    role: str = ""                   # "canary" | "stable" | "replicas"

    @property
    def value(self) -> int:
        try:
            return int(self.node.value)
        except ValueError:
            raise KustodianError(f"{self.node.value!r} is not an integer", file=self.file.rel,
                                 line=self.node.start_mark.line + 1) from None


def replicas_field_slots(kfile: YamlFile, dep_name: str) -> list[Slot]:
    """The `replicas:` counts of a kustomization file that apply to the Deployment
    `dep_name` (an entry's name may lack the overlay's name prefix)."""
    pair = mapping_get(kfile.root, "replicas") if isinstance(kfile.root, MappingNode) else None
    slots = []
    if pair and isinstance(pair[1], SequenceNode):
        for index, item in enumerate(pair[1].value):
            name, count = mapping_get(item, "name"), mapping_get(item, "count")
            if name and count and isinstance(count[1], ScalarNode) and (
                    dep_name.endswith(scalar_text(name[1]) or "\0")):
                slots.append(Slot(kfile, count[1], ("replicas", index, "count"), role="replicas"))
    return slots


def plan_ints(changes: ChangeSet, edits: list[tuple[Slot, int]]) -> None:
    """Splice integer values into files (and inline patch strings), one SplicedText per file."""
    by_file: dict[str, tuple[YamlFile, SplicedText]] = {}
    inline: dict[tuple, list[tuple[Slot, int]]] = {}
    for slot, value in edits:
        if slot.value == value:
            continue
        if slot.outer_path is None:
            sp = by_file.setdefault(slot.file.rel, (slot.file, SplicedText(slot.file.text,
                                                                           slot.file.rel)))[1]
            sp.set_int(slot.node, value, slot.inner_path)
        else:
            inline.setdefault((slot.file.rel, slot.outer_path), []).append((slot, value))
    for (rel, outer_path), group in inline.items():
        first = group[0][0]
        inner = SplicedText(first.inner_text or "", f"{rel} (inline patch)")
        for slot, value in group:
            inner.set_int(slot.node, value, slot.inner_path)
        new_inner = inner.result()
        mapper = inner_index_mapper(first.file.text, first.inner_node)
        if mapper is None:
            raise KustodianError("cannot edit this inline patch in place (escaped or folded "
                                 "string)", file=rel, line=first.inner_node.start_mark.line + 1,
                                 hint="write the patch as a literal block (patch: |-)")
        sp = by_file.setdefault(rel, (first.file, SplicedText(first.file.text, rel)))[1]
        for start, end, text in inner.edits:
            sp.replace(mapper(start), mapper(end - 1) + 1, text)
        sp.expect(outer_path, new_inner)
    for _, (kfile, sp) in by_file.items():
        text = sp.result()
        existing = next((c for c in changes.files if c.rel == kfile.rel), None)
        if existing is not None:
            raise KustodianError(f"internal error: {kfile.rel} edited twice")
        changes.add(kfile.path, kfile.rel, kfile.raw, kfile.encode(text))


class OverlayState(Protocol):
    """What a step reads of its overlay (the canary and the blue-green states)."""

    config: ReleaseConfig
    env: str
    overlay: str


def step_changes(state: OverlayState, action: str, before: str, after: str) -> ChangeSet:
    """The ChangeSet of one step on the state's overlay (the overlay the gate checks)."""
    return ChangeSet(action, state.env, state.config.image, before, after,
                     overlays=[state.overlay])


def short_name(image: str) -> str:
    """`ghcr.io/acme/agent` -> `agent` (commit subjects)."""
    return image.rsplit("/", 1)[-1]
