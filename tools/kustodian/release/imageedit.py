"""Plan the splices that pin an `images:` entry to a version (or add the entry)."""

from __future__ import annotations

from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from kustodian.errors import KustodianError
from kustodian.release.kustomization import ImageEntry, YamlFile, images_sequence
from kustodian.release.reference import ImageVersion
from kustodian.release.yamlsplice import (
    DELETE,
    SplicedText,
    block_sequence_indent,
    mapping_get,
    render_scalar,
)

VERSION_KEYS = ("newTag", "digest")


def desired_fields(version: ImageVersion) -> dict[str, str]:
    """The canonical entry fields: `newTag: T@D` when both, `digest:` alone, or `newTag: T`."""
    if version.tag and version.digest:
        return {"newTag": f"{version.tag}@{version.digest}"}
    if version.digest:
        return {"digest": version.digest}
    if version.tag:
        return {"newTag": version.tag}
    raise KustodianError("nothing to set: give --tag and/or --digest")


def plan_version(sp: SplicedText, entry: ImageEntry, version: ImageVersion) -> None:
    """Splice `version` into the entry, keeping each scalar's quoting; drop a stale field."""
    node, flow = entry.node, bool(entry.node.flow_style)
    desired = desired_fields(version)
    present = {k: mapping_get(node, k) for k in VERSION_KEYS if mapping_get(node, k)}
    spare = [k for k in VERSION_KEYS if k in present and k not in desired]
    to_add: list[tuple[str, str]] = []
    for key, value in desired.items():
        if key in present:
            value_node = present[key][1]
            if not isinstance(value_node, ScalarNode) or value_node.value != value:
                _require_scalar(entry, value_node)
                sp.set_string(value_node, value, (*entry.path, key), flow=flow)
        elif spare:
            donor = spare.pop(0)
            key_node, value_node = present[donor]
            _require_scalar(entry, value_node)
            sp.rename_key(key_node, key)
            sp.replace(value_node.start_mark.index, value_node.end_mark.index,
                       render_scalar(value, style=value_node.style, flow=flow))
            sp.expect((*entry.path, donor), DELETE)
            sp.expect((*entry.path, key), value)
        else:
            to_add.append((key, value))
    if to_add:
        sp.add_pairs(node, [(k, render_scalar(v, flow=flow)) for k, v in to_add], entry.path,
                     dict(to_add))
    for key in spare:
        sp.remove_pair(node, key, entry.path)


def plan_new_name(sp: SplicedText, entry: ImageEntry, new_name: str) -> None:
    flow = bool(entry.node.flow_style)
    pair = mapping_get(entry.node, "newName")
    if pair is None:
        sp.add_pairs(entry.node, [("newName", render_scalar(new_name, flow=flow))], entry.path,
                     {"newName": new_name})
    elif pair[1].value != new_name:
        _require_scalar(entry, pair[1])
        sp.set_string(pair[1], new_name, (*entry.path, "newName"), flow=flow)


def plan_add_entry(sp: SplicedText, kfile: YamlFile, name: str, version: ImageVersion,
                   new_name: str | None = None) -> None:
    """Add `{name, [newName], newTag|digest}` to the file's images (creating `images:`)."""
    values = {"name": name}
    if new_name:
        values["newName"] = new_name
    values.update(desired_fields(version))
    root = kfile.root
    if not isinstance(root, MappingNode):
        raise KustodianError("a kustomization must be a mapping", file=kfile.rel)
    pair = images_sequence(kfile)
    if pair is None:
        flow = bool(root.flow_style)
        pairs = [(k, render_scalar(v, flow=flow)) for k, v in values.items()]
        if not root.value:
            raise KustodianError("the kustomization is empty", file=kfile.rel)
        sp.add_sequence_key(root, "images", pairs, (), values, block_sequence_indent(root))
        return
    key_node, seq = pair
    if isinstance(seq, ScalarNode) and seq.tag.endswith(":null"):
        pairs = [(k, render_scalar(v)) for k, v in values.items()]
        sp.fill_null_with_sequence(key_node, pairs, ("images",), values,
                                   block_sequence_indent(root))
        return
    if not isinstance(seq, SequenceNode):
        raise KustodianError("`images:` must be a list", file=kfile.rel,
                             line=kfile.line_of(seq))
    first = seq.value[0] if seq.value else None
    flow = bool(seq.flow_style or (isinstance(first, MappingNode) and first.flow_style))
    pairs = [(k, render_scalar(v, flow=flow)) for k, v in values.items()]
    sp.append_mapping_item(seq, pairs, ("images",), values)


def _require_scalar(entry: ImageEntry, node: object) -> None:
    if not isinstance(node, ScalarNode):
        raise KustodianError(f"the images entry {entry.name!r} has a non-scalar value",
                             file=entry.file.rel, line=entry.file.line_of(entry.node))

