"""Byte-minimal YAML edits: ruamel.yaml locates the nodes, the edit is spliced into the text.

A round-trip dump reformats (quotes, indentation, comments, CRLF, flow style); here only the
bytes of the changed scalar change. New keys and entries copy the indentation and style of
their neighbours. Every edit is verified by parsing the result again and comparing it with
the intended data change.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kustodian.errors import KustodianError
from kustodian.yamlio import check_structure

DELETE = object()


def compose(text: str, where: str) -> Node | None:
    """The node tree of a single-document YAML text, or a clear error naming `where`
    (also for texts no loader should see: too deep, alias bombs; `yamlio.check_structure`)."""
    check_structure(text, where)
    try:
        return YAML(typ="rt").compose(text)
    except MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise KustodianError(f"not valid YAML: {exc.problem}", file=where, line=line,
                             hint="fix the YAML syntax first") from None
    except YAMLError as exc:
        raise KustodianError(f"not valid YAML: {exc}", file=where) from None


def load_data(text: str, where: str) -> object:
    check_structure(text, where)
    try:
        return YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        raise KustodianError(f"not valid YAML: {exc}", file=where) from None


def newline_of(text: str) -> str:
    """The file's line-ending style: CRLF when its first line break is CRLF."""
    pos = text.find("\n")
    return "\r\n" if pos > 0 and text[pos - 1] == "\r" else "\n"


def line_end(text: str, index: int) -> int:
    """Index of the line break ending the line that holds `index` (or len(text))."""
    pos = text.find("\n", index)
    if pos < 0:
        return len(text)
    return pos - 1 if pos > 0 and text[pos - 1] == "\r" else pos


def line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def mapping_pairs(node: Node) -> list[tuple[ScalarNode, Node]]:
    return list(node.value) if isinstance(node, MappingNode) else []


def mapping_get(node: Node, key: str) -> tuple[ScalarNode, Node] | None:
    for key_node, value_node in mapping_pairs(node):
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return key_node, value_node
    return None


def scalar_text(node: Node | None) -> str | None:
    if isinstance(node, ScalarNode) and node.tag.endswith(":null") is False:
        return node.value
    return None


def _plain_ok(value: str, flow: bool) -> bool:
    """True when `value` written plain reads back as the same string."""
    probe = f"{{k: {value}}}" if flow else f"k: {value}\n"
    try:
        data = YAML(typ="safe", pure=True).load(probe)
    except YAMLError:
        return False
    return isinstance(data, dict) and data.get("k") == value and isinstance(data["k"], str)


def render_scalar(value: str, *, style: str | None = None, flow: bool = False) -> str:
    """`value` as a YAML scalar in `style` (None, quote char); quoted when plain is unsafe."""
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style == '"' or not _plain_ok(value, flow):
        return json.dumps(value)
    return value


def render_int(value: int, style: str | None = None) -> str:
    return f"{style}{value}{style}" if style in ("'", '"') else str(value)


@dataclass
class SplicedText:
    """Edits (start, end, replacement) collected against one text and applied together."""

    text: str
    where: str
    edits: list[tuple[int, int, str]] = field(default_factory=list)
    changes: list[tuple[tuple, object]] = field(default_factory=list)

    @property
    def newline(self) -> str:
        return newline_of(self.text)

    def replace(self, start: int, end: int, replacement: str) -> None:
        for s, e, _ in self.edits:
            if start < e and s < end:
                raise AssertionError(f"overlapping YAML edits in {self.where}")
        self.edits.append((start, end, replacement))

    def expect(self, path: tuple, value: object) -> None:
        """Declare the data change the edits make (checked by `result`)."""
        self.changes.append((path, value))

    def result(self) -> str:
        out = self.text
        for start, end, replacement in sorted(self.edits, key=lambda e: e[0], reverse=True):
            out = out[:start] + replacement + out[end:]
        if self.edits:
            self._verify(out)
        return out

    def _verify(self, out: str) -> None:
        expected = copy.deepcopy(load_data(self.text, self.where))
        for path, value in self.changes:
            expected = _apply_change(expected, path, value)
        try:
            actual = load_data(out, self.where)
        except KustodianError as exc:
            raise KustodianError(f"internal error: the edit would break the YAML ({exc})",
                                 file=self.where, hint="please report this file's style") from None
        if actual != expected:
            raise KustodianError("internal error: the spliced edit does not read back as intended",
                                 file=self.where, hint="please report this file's style")

    # ---- scalar edits -------------------------------------------------------------------

    def set_scalar(self, node: ScalarNode, rendered: str, path: tuple, value: object) -> None:
        """Replace the bytes of `node` with `rendered` (already in the node's style)."""
        if node.style in ("|", ">"):
            raise KustodianError("cannot edit a block scalar value in place", file=self.where,
                                 line=node.start_mark.line + 1)
        self.replace(node.start_mark.index, node.end_mark.index, rendered)
        self.expect(path, value)

    def set_string(self, node: ScalarNode, value: str, path: tuple, *, flow: bool) -> None:
        self.set_scalar(node, render_scalar(value, style=node.style, flow=flow), path, value)

    def set_int(self, node: ScalarNode, value: int, path: tuple) -> None:
        rendered = render_int(value, node.style)
        self.set_scalar(node, rendered, path, str(value) if node.style else value)

    # ---- mapping edits ------------------------------------------------------------------

    def add_pairs(self, mapping: MappingNode, pairs: list[tuple[str, str]], path: tuple,
                  values: dict) -> None:
        """Append `key: rendered` pairs at the end of `mapping`, in its style."""
        for key, value in values.items():
            self.expect((*path, key), value)
        if mapping.flow_style:
            body = "".join(f", {k}: {v}" for k, v in pairs)
            if mapping.value:
                self.replace(mapping.value[-1][1].end_mark.index,
                             mapping.value[-1][1].end_mark.index, body)
            else:
                pos = mapping.start_mark.index + 1
                self.replace(pos, pos, body[2:])
            return
        last_value = mapping.value[-1][1]
        indent = " " * mapping.value[0][0].start_mark.column
        lines = [f"{indent}{k}: {v}" for k, v in pairs]
        self._insert_lines_after(last_value, lines)

    def _insert_lines_after(self, last: Node, lines: list[str]) -> None:
        """Insert whole lines right after the last scalar of `last` (before blank lines)."""
        nl = self.newline
        last = _last_leaf(last)
        end = last.end_mark.index
        if end > 0 and self.text[end - 1] == "\n":      # block values end after their newline
            self.replace(end, end, "".join(line + nl for line in lines))
        else:
            pos = line_end(self.text, end)
            self.replace(pos, pos, "".join(nl + line for line in lines))

    def remove_pair(self, mapping: MappingNode, key: str, path: tuple) -> None:
        """Delete `key` (its line in block style, `, key: v` in flow style)."""
        pairs = mapping.value
        idx = next(i for i, (k, _) in enumerate(pairs) if k.value == key)
        key_node, value_node = pairs[idx]
        self.expect((*path, key), DELETE)
        if len(pairs) == 1:
            raise KustodianError(f"cannot remove the only key {key!r}", file=self.where)
        if mapping.flow_style:
            if idx > 0:
                self.replace(pairs[idx - 1][1].end_mark.index, value_node.end_mark.index, "")
            else:
                self.replace(key_node.start_mark.index, pairs[1][0].start_mark.index, "")
            return
        if idx + 1 < len(pairs):
            self.replace(key_node.start_mark.index, pairs[idx + 1][0].start_mark.index, "")
            return
        start = line_start(self.text, key_node.start_mark.index)
        if self.text[start:key_node.start_mark.index].strip():
            raise KustodianError(f"cannot remove {key!r} here", file=self.where,
                                 line=key_node.start_mark.line + 1)
        end = value_node.end_mark.index
        if not (end > 0 and self.text[end - 1] == "\n"):
            end = line_end(self.text, end)
            end += 2 if self.text.startswith("\r\n", end) else (1 if end < len(self.text) else 0)
        self.replace(start, end, "")

    def rename_key(self, key_node: ScalarNode, new_key: str) -> None:
        self.replace(key_node.start_mark.index, key_node.end_mark.index, new_key)

    # ---- sequence edits -----------------------------------------------------------------

    def append_mapping_item(self, seq: SequenceNode, pairs: list[tuple[str, str]], path: tuple,
                            values: dict) -> None:
        """Append a mapping item to `seq`, copying the style of its first item."""
        self.expect((*path, len(seq.value)), values)
        flow_item = "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
        if seq.flow_style:
            if seq.value:
                pos = seq.value[-1].end_mark.index
                self.replace(pos, pos, ", " + flow_item)
            else:
                pos = seq.start_mark.index + 1
                self.replace(pos, pos, flow_item)
            return
        dash_col = seq.start_mark.column
        first = seq.value[0]
        if isinstance(first, MappingNode) and first.flow_style:
            lines = [" " * dash_col + "- " + flow_item]
        else:
            key_col = first.start_mark.column if isinstance(first, MappingNode) else dash_col + 2
            gap = " " * max(1, key_col - dash_col - 1)
            lines = [" " * dash_col + "-" + gap + f"{pairs[0][0]}: {pairs[0][1]}"]
            lines += [" " * key_col + f"{k}: {v}" for k, v in pairs[1:]]
        self._insert_lines_after(seq.value[-1], lines)

    def add_sequence_key(self, mapping: MappingNode, key: str, pairs: list[tuple[str, str]],
                         path: tuple, values: dict, seq_indent: int) -> None:
        """Add `key:` holding a one-item sequence of one mapping to `mapping`."""
        self.expect((*path, key), [values])
        if mapping.flow_style:
            flow_item = "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
            pos = (mapping.value[-1][1].end_mark.index if mapping.value
                   else mapping.start_mark.index + 1)
            sep = ", " if mapping.value else ""
            self.replace(pos, pos, f"{sep}{key}: [{flow_item}]")
            return
        col = mapping.value[0][0].start_mark.column
        dash = " " * (col + seq_indent)
        lines = [" " * col + f"{key}:", dash + f"- {pairs[0][0]}: {pairs[0][1]}"]
        lines += [dash + f"  {k}: {v}" for k, v in pairs[1:]]
        self._insert_lines_after(mapping.value[-1][1], lines)

    def fill_null_with_sequence(self, key_node: ScalarNode, pairs: list[tuple[str, str]],
                                path: tuple, values: dict, seq_indent: int) -> None:
        """`key:` with no value becomes `key:` followed by a one-item block sequence."""
        self.expect(path, [values])
        dash = " " * (key_node.start_mark.column + seq_indent)
        nl = self.newline
        body = nl + dash + f"- {pairs[0][0]}: {pairs[0][1]}"
        body += "".join(nl + dash + f"  {k}: {v}" for k, v in pairs[1:])
        pos = line_end(self.text, key_node.end_mark.index)
        self.replace(pos, pos, body)


def _last_leaf(node: Node) -> Node:
    """The last scalar (or flow collection) inside a block collection."""
    while isinstance(node, (MappingNode, SequenceNode)) and not node.flow_style and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, MappingNode) else last
    return node


def _apply_change(data: object, path: tuple, value: object) -> object:
    if not path:
        return value
    if data is None:
        data = {}
    head, rest = path[0], path[1:]
    if isinstance(data, list) and isinstance(head, int):
        if head == len(data):
            data.append(None)
        if value is DELETE and not rest:
            del data[head]
        else:
            data[head] = _apply_change(data[head], rest, value)
        return data
    if isinstance(data, dict):
        if value is DELETE and not rest:
            data.pop(head, None)
        else:
            data[head] = _apply_change(data.get(head), rest, value)
        return data
    raise AssertionError(f"cannot apply change at {path}")


def block_sequence_indent(root: Node) -> int:
    """How far block sequences are indented under their key in this file (0 or 2 usually)."""
    for key_node, value in mapping_pairs(root):
        if isinstance(value, SequenceNode) and not value.flow_style and value.value:
            return max(0, value.start_mark.column - key_node.start_mark.column)
    return 0


def inner_index_mapper(text: str, node: ScalarNode) -> Callable[[int], int] | None:
    """Map indices in a string scalar's value back to `text`, when the value appears verbatim.

    Works for literal block scalars (`|`, `|-`) and single-line quoted/plain scalars without
    escapes, which is how inline kustomize patches are written. None when not mappable.
    """
    value = node.value
    start, end = node.start_mark.index, node.end_mark.index
    if node.style in (None, "'", '"'):
        quote = 1 if node.style else 0
        raw = text[start + quote:end - quote]
        return (lambda i: start + quote + i) if raw == value else None
    if node.style != "|":
        return None
    first_line = line_end(text, start)
    first_line += 2 if text.startswith("\r\n", first_line) else 1
    outer_starts = [first_line]
    pos = first_line
    while True:
        nxt = text.find("\n", pos, end)
        if nxt < 0:
            break
        pos = nxt + 1
        outer_starts.append(pos)
    inner_lines = value.split("\n")
    indent = None
    for number, line in enumerate(inner_lines):
        if not line:
            continue
        if number >= len(outer_starts):
            return None
        outer = text[outer_starts[number]:line_end(text, outer_starts[number])]
        if indent is None:
            indent = len(outer) - len(line)
        if indent < 0 or outer[indent:] != line or outer[:indent].strip():
            return None
    if indent is None:
        return None
    inner_starts = [0]
    for line in inner_lines[:-1]:
        inner_starts.append(inner_starts[-1] + len(line) + 1)

    def mapper(i: int) -> int:
        number = max(n for n, s in enumerate(inner_starts) if s <= i)
        return outer_starts[number] + indent + (i - inner_starts[number])

    return mapper
