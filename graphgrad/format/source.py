"""Safe YAML with positions: the only module that touches PyYAML.

The document is built from PyYAML's event stream by a small loop of our own, not by
PyYAML's constructor, because the format needs what the constructor cannot give:

- YAML 1.2 core-schema scalars (``1e-6`` is a float, ``no`` stays a string);
- an error for a key given twice, and for any tag that would build an object;
- nesting depth bounded while parsing (the C composer recurses and can crash);
- alias expansion counted before anything downstream walks the data;
- the line and column of every key and value, so later stages can point at them.
"""

from __future__ import annotations

import math
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from graphgrad.errors import GraphFileError, Issue

try:
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on whether libyaml is present
    _Loader = yaml.SafeLoader

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT10 = re.compile(r"^[-+]?[0-9]+$")
_INT8 = re.compile(r"^0o[0-7]+$")
_INT16 = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null")}


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds applied before memory is spent; each has a command-line option of its name."""

    max_file_bytes: int = 64 * 1024 * 1024
    max_nodes: int = 1_000_000
    max_depth: int = 64
    max_alias_expansion: int = 1_000_000
    max_elements: int = 50_000_000
    max_total_elements: int | None = None

    @property
    def total_elements(self) -> int:
        """The bound on a graph's values and gradients together: ``max_total_elements``,
        or four times ``max_elements`` (an input, its gradient, a node and its gradient
        of the largest size) when it is not given."""
        return self.max_total_elements if self.max_total_elements is not None else 4 * self.max_elements


MAX_INT_DIGITS = 4300
"""Integer literals longer than this are refused while parsing: no number of a graph is
that large (a float64 has 309 digits), and Python itself refuses to convert them."""
_MAX_INT_BITS = 14_280  # 2**14280 < 10**4300: a hex or octal literal whose value has at most 4300 digits


class TooLargeInteger(str):
    """What :func:`resolve_scalar` gives for an integer literal of more than
    :data:`MAX_INT_DIGITS` digits: the text itself, marked, so that the parser reports
    it and writers still know that the text is not a plain string."""

    __slots__ = ()

    def describe(self) -> str:
        shown = self if len(self) <= 24 else f"{self[:10]}...{self[-10:]}"
        return (
            f"the integer {shown} ({len(self)} characters) is too large: a graph's numbers are below "
            f"10**{MAX_INT_DIGITS} (an int64 has 19 digits, a float64 at most 309)"
        )


@dataclass(slots=True)
class Document:
    """A parsed YAML document: plain Python data plus where each part of it stood."""

    data: Any
    path: str
    value_marks: dict[tuple, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[tuple, tuple[int, int]] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    refused: set[tuple[int, int]] = field(default_factory=set)
    """Where a value was refused while parsing (an integer too large): later stages see
    None there, and their messages about it would only repeat the first."""

    def locate(self, loc: tuple, *, key: bool = False) -> tuple[int, int]:
        """Line and column of ``loc`` (a key path), or of its nearest located parent."""
        loc = tuple(loc)
        while loc:
            marks = self.key_marks if key else self.value_marks
            if loc in marks:
                return marks[loc]
            if not key and loc in self.key_marks:
                return self.key_marks[loc]
            loc, key = loc[:-1], False
        return (1, 1)

    def issue(self, loc: tuple, message: str, *, key: bool = False) -> Issue:
        """An Issue located at ``loc``."""
        line, column = self.locate(loc, key=key)
        return Issue(self.path, line, column, message)


STDIN = "-"
"""The path that names standard input, for every command that takes a FILE."""
STDIN_NAME = "<stdin>"
"""How messages name standard input."""


def read_text(path: str | Path, limits: Limits) -> str:
    """Read a graph file as UTF-8 (a BOM is allowed), refusing files over the size limit.

    At most ``max_file_bytes + 1`` bytes are read, whatever the file claims to be, and
    only a regular file or standard input (``-``) is read at all: a FIFO could block
    forever and ``/dev/zero`` never ends.
    """
    name = str(path)
    if name == STDIN:
        return decode(_read_bounded(sys.stdin.buffer, limits), STDIN_NAME, limits)
    try:
        # O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb", buffering=0) as f:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                what = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
                msg = f"cannot read file: it is {what}; a graph file is a regular file, or - for stdin"
                raise GraphFileError([Issue(name, 1, 1, msg)])
            if info.st_size > limits.max_file_bytes:
                raise GraphFileError([Issue(name, 1, 1, _too_big(info.st_size, limits))])
            raw = _read_bounded(f, limits)
    except IsADirectoryError:
        msg = "cannot read file: it is a directory; a graph file is a regular file, or - for stdin"
        raise GraphFileError([Issue(name, 1, 1, msg)]) from None
    except OSError as exc:
        raise GraphFileError([Issue(name, 1, 1, f"cannot read file: {exc.strerror}")]) from None
    return decode(raw, name, limits)


_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def _read_bounded(stream, limits: Limits) -> bytes:
    """At most ``max_file_bytes + 1`` bytes: enough to know that a file is too big."""
    want = limits.max_file_bytes + 1
    chunks, size = [], 0
    while size < want:
        chunk = stream.read(min(want - size, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def decode(raw: bytes, path: str, limits: Limits) -> str:
    """Bytes to text, with the position of the first byte that is not UTF-8."""
    if len(raw) > limits.max_file_bytes:
        raise GraphFileError([Issue(path, 1, 1, _too_big(len(raw), limits))])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        msg = f"byte 0x{raw[exc.start]:02x} is not valid UTF-8; a graph file must be UTF-8"
        raise GraphFileError([Issue(path, line, column, msg)]) from None


def _too_big(size: int, limits: Limits) -> str:
    if size == limits.max_file_bytes + 1:  # a bounded read: the true size is not known
        return f"file is over the limit of {limits.max_file_bytes} bytes (raise it with --max-file-bytes)"
    return f"file is {size} bytes, over the limit of {limits.max_file_bytes} (raise it with --max-file-bytes)"


def parse(text: str, path: str, limits: Limits, *, positions: bool = True) -> Document:
    """Parse one YAML document into a :class:`Document`.

    Fatal faults (syntax, limits) raise :class:`GraphFileError`; faults the parse can go
    past (a duplicate key, a forbidden tag) are collected in ``Document.issues``.
    With ``positions=False`` only the top two levels (sections, and the names of inputs
    and nodes) are located: faster and leaner, for a file expected to be valid, to be
    parsed again with every position if it is not.

    >>> doc = parse("a: 1e-6\\nb: no\\n", "<text>", Limits())
    >>> doc.data, doc.locate(("b",))
    ({'a': 1e-06, 'b': 'no'}, (2, 4))
    """
    if len(text) > limits.max_file_bytes:
        raise GraphFileError([Issue(path, 1, 1, _too_big(len(text), limits))])
    try:
        try:
            builder = _build(text, path, limits, positions, _Loader)
        except yaml.MarkedYAMLError as exc:
            if _Loader is yaml.SafeLoader or not _parser_depth_limit(exc):
                raise
            builder = _past_parser_depth(text, path, limits, positions, exc)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise GraphFileError([Issue(path, line, column, f"invalid YAML: {problem}")]) from None
    except yaml.reader.ReaderError as exc:
        line, column = _line_col(text, exc.position)
        msg = f"invalid YAML: character {exc.character!r} is not allowed"
        raise GraphFileError([Issue(path, line, column, msg)]) from None
    except yaml.YAMLError as exc:  # pragma: no cover - other parser errors carry no mark
        raise GraphFileError([Issue(path, 1, 1, f"invalid YAML: {exc}")]) from None
    return builder.document()


def _build(text: str, path: str, limits: Limits, positions: bool, loader: type) -> _Builder:
    builder = _Builder(path, limits, positions)
    for event in yaml.parse(text, Loader=loader):
        builder.feed(event)
    return builder


def _past_parser_depth(
    text: str, path: str, limits: Limits, positions: bool, exc: yaml.MarkedYAMLError
) -> _Builder:
    """graphgrad's --max-depth and message, where libyaml refused first.

    libyaml (as bundled with PyYAML 6.0.4) refuses nesting past its own depth (1000),
    and its scanner reads ahead, so it can refuse before the events reach graphgrad's
    limit. The text up to where it refused nests less deep: parsed alone, its events
    reach graphgrad's limit if the file passes it there. Otherwise (a --max-depth above
    libyaml's) the whole file is walked with the pure-Python parser, which has no limit
    of its own, so graphgrad's limit decides whatever the PyYAML version.
    """
    mark = exc.problem_mark
    if mark is not None:
        start = 0
        for _ in range(mark.line):
            start = text.find("\n", start) + 1
        try:
            _build(text[: start + mark.column], path, limits, positions, _Loader)
        except GraphFileError as err:
            if any(_DEPTH_MESSAGE in i.message for i in err.issues):
                raise
        except yaml.YAMLError:
            pass  # the cut text ends in the middle of a collection
    return _build(text, path, limits, positions, yaml.SafeLoader)


_DEPTH_MESSAGE = "(raise it with --max-depth)"


def _parser_depth_limit(exc: yaml.MarkedYAMLError) -> bool:
    """Whether PyYAML refused the file for its own nesting limit (libyaml's message)."""
    return "nesting" in f"{exc.problem} {exc.context}"


def _line_col(text: str, position: int) -> tuple[int, int]:
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


class _Frame:
    __slots__ = ("obj", "loc", "key", "key_mark", "anchor", "start_count", "skip")

    def __init__(self, obj: Any, loc: tuple, anchor: str | None, start_count: int):
        self.obj = obj
        self.loc = loc
        self.key: Any = _NO_KEY
        self.key_mark: tuple[int, int] = (1, 1)
        self.anchor = anchor
        self.start_count = start_count
        self.skip = False


_NO_KEY = object()
_UNLOCATED = ("<unlocated>",)
_SECTIONS = ("inputs", "nodes", "<dropped>")


class _Builder:
    """Turns a YAML event stream into plain data, without recursion."""

    def __init__(self, path: str, limits: Limits, positions: bool = True):
        self.path = path
        self.limits = limits
        self.positions = positions
        self.doc = Document(data=None, path=path)
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.open_anchors: set[str] = set()
        self.count = 0
        self.expanded = 0
        self.documents = 0
        self.nodes = 0
        self.root_set = False

    def feed(self, event: yaml.Event) -> None:
        kind = type(event)
        if kind is yaml.ScalarEvent:
            self._scalar(event)
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            self._start(event, {} if kind is yaml.MappingStartEvent else [])
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            self._end()
        elif kind is yaml.AliasEvent:
            self._alias(event)
        elif kind is yaml.DocumentStartEvent:
            self.documents += 1
            if self.documents > 1:
                self._fatal(event, "a graph file holds one YAML document; found a second")

    def document(self) -> Document:
        if not self.root_set or self.doc.data is None:
            self.doc.issues.append(Issue(self.path, 1, 1, "the document is empty"))
        return self.doc

    def _fatal(self, event: yaml.Event, message: str) -> None:
        mark = event.start_mark
        raise GraphFileError([Issue(self.path, mark.line + 1, mark.column + 1, message)])

    def _mark(self, event: yaml.Event) -> tuple[int, int]:
        return event.start_mark.line + 1, event.start_mark.column + 1

    def _attach(self, value: Any, event: yaml.Event, *, is_scalar: bool) -> tuple | None:
        """Place a value in the open container; return its key path, or None if dropped."""
        self.count += 1
        if not self.positions and len(self.stack) > 2:
            return self._attach_unlocated(self.stack[-1], value, event, is_scalar)
        mark = self._mark(event)
        if not self.stack:
            self.doc.data, self.root_set = value, True
            self.doc.value_marks[()] = mark
            return ()
        top = self.stack[-1]
        if isinstance(top.obj, list):
            loc = top.loc + (len(top.obj),)
            top.obj.append(value)
            self.doc.value_marks[loc] = mark
            return loc
        if top.key is _NO_KEY:
            if not is_scalar:
                self._fatal(event, "a mapping key must be a plain value, not a list or mapping")
            if len(self.stack) == 2 and top.loc[0] in _SECTIONS:
                self._count_node(event)
            self._take_key(top, value, mark)
            if value == "<<":
                self._refuse_merge(top, event, mark)
            return None
        loc, skip = top.loc + (top.key,), top.skip
        if not skip:
            top.obj[top.key] = value
            self.doc.value_marks[loc] = mark
            self.doc.key_marks[loc] = top.key_mark
        top.key, top.skip = _NO_KEY, False
        return None if skip else loc

    def _attach_unlocated(self, top: _Frame, value: Any, event: yaml.Event, is_scalar: bool) -> tuple:
        """``_attach`` below the names of inputs and nodes, when positions are not kept."""
        if isinstance(top.obj, list):
            top.obj.append(value)
        elif top.key is _NO_KEY:
            if not is_scalar:
                self._fatal(event, "a mapping key must be a plain value, not a list or mapping")
            top.key = value
            if value in top.obj:
                self._take_key(top, value, self._mark(event))
            if value == "<<":
                self._refuse_merge(top, event, self._mark(event))
        else:
            if not top.skip:
                top.obj[top.key] = value
            top.key, top.skip = _NO_KEY, False
        return _UNLOCATED

    def _count_node(self, event: yaml.Event) -> None:
        """Count the inputs and nodes as they are parsed, and stop at the limit: a huge
        file is refused before the rest of it is read into memory."""
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            self._fatal(
                event,
                f"more than {self.limits.max_nodes} inputs and nodes (raise it with --max-nodes)",
            )

    def _refuse_merge(self, top: _Frame, event: yaml.Event, mark: tuple[int, int]) -> None:
        """Called for a ``<<`` key only (it is on the loading path). A plain ``<<`` is
        YAML's merge key, which copies the keys of an anchored mapping: graph files keep
        every node's keys in the node, so it is refused by name (not reported as an
        unknown key) and its value dropped. A quoted ``"<<"``, or an alias whose value is
        ``<<``, is an ordinary key."""
        plain = type(event) is yaml.ScalarEvent and not event.style and event.implicit[0]  # style None or ""
        if plain:  # an alias whose value is "<<" is an ordinary key
            message = "'<<' is a YAML merge key, which graph files do not support: write the keys out"
            self.doc.issues.append(Issue(self.path, *mark, message))
            top.skip = True

    def _take_key(self, top: _Frame, key: Any, mark: tuple[int, int]) -> None:
        top.key, top.key_mark = key, mark
        if key in top.obj:
            first = self.doc.key_marks.get(top.loc + (key,), (0, 0))[0]
            self.doc.issues.append(
                Issue(self.path, *mark, f"key {key!r} is given twice (first on line {first})")
            )
            top.skip = True

    def _scalar(self, event: yaml.ScalarEvent) -> None:
        value = self._resolve(event)
        if isinstance(value, TooLargeInteger):
            self.doc.issues.append(Issue(self.path, *self._mark(event), value.describe()))
            self.doc.refused.add(self._mark(event))
            value = None
        self._attach(value, event, is_scalar=True)
        if event.anchor:
            self.anchors[event.anchor] = (value, 1)

    def _resolve(self, event: yaml.ScalarEvent) -> Any:
        tag, text = event.tag, event.value
        if tag is None and event.implicit[0]:
            return resolve_scalar(text)
        if tag in (None, "!"):
            return text
        if tag not in _SCALAR_TAGS:
            line, column = self._mark(event)
            self.doc.issues.append(Issue(self.path, line, column, _bad_tag(tag)))
            return None
        if tag == _CORE + "str":
            return text
        value = resolve_scalar(text)
        if isinstance(value, TooLargeInteger):
            return value
        expected = {"int": int, "float": (int, float), "bool": bool, "null": type(None)}
        if not isinstance(value, expected[tag.rsplit(":", 1)[1]]):
            line, column = self._mark(event)
            self.doc.issues.append(Issue(self.path, line, column, f"{text!r} is not a {tag}"))
            return None
        return float(value) if tag.endswith("float") else value

    def _start(self, event: yaml.Event, container: dict | list) -> None:
        if event.tag not in (None, "!", _CORE + "map", _CORE + "seq"):
            line, column = self._mark(event)
            self.doc.issues.append(Issue(self.path, line, column, _bad_tag(event.tag)))
        loc = self._attach(container, event, is_scalar=False)
        if len(self.stack) >= self.limits.max_depth:
            self._fatal(
                event,
                f"nesting is deeper than {self.limits.max_depth} levels (raise it with --max-depth)",
            )
        frame = _Frame(container, loc if loc is not None else ("<dropped>",), event.anchor, self.count)
        if event.anchor:
            self.open_anchors.add(event.anchor)
        self.stack.append(frame)

    def _end(self) -> None:
        frame = self.stack.pop()
        if frame.anchor:
            self.open_anchors.discard(frame.anchor)
            self.anchors[frame.anchor] = (frame.obj, self.count - frame.start_count + 1)

    def _alias(self, event: yaml.AliasEvent) -> None:
        if event.anchor in self.open_anchors:
            self._fatal(event, f"alias *{event.anchor} refers to a node that contains it")
        if event.anchor not in self.anchors:
            self._fatal(event, f"alias *{event.anchor} has no anchor &{event.anchor} before it")
        value, size = self.anchors[event.anchor]
        self.expanded += size
        if self.expanded > self.limits.max_alias_expansion:
            self._fatal(
                event,
                f"aliases expand to more than {self.limits.max_alias_expansion} YAML nodes "
                "(raise it with --max-alias-expansion)",
            )
        is_scalar = not isinstance(value, dict | list)
        self._attach(value, event, is_scalar=is_scalar)
        self.count += size - 1


def _bad_tag(tag: str) -> str:
    return (
        f"tag {tag.replace(_CORE, '!!')} is not allowed: graph files are plain data; only the core tags "
        "!!str, !!int, !!float, !!bool, !!null, !!map and !!seq may be used"
    )


def resolve_scalar(text: str) -> Any:
    """Resolve a plain scalar by the YAML 1.2 core schema."""
    if not text or text[0] in "-+.0123456789~nNtTfF":
        if _NULL.match(text):
            return None
        if _BOOL.match(text):
            return text[0] in "tT"
        if _INT10.match(text):
            digits = len(text) - (text[0] in "+-")
            return int(text) if digits <= MAX_INT_DIGITS else TooLargeInteger(text)
        if _FLOAT.match(text):
            return float(text)
        if _INT8.match(text) or _INT16.match(text):
            value = int(text[2:], 8 if text[1] == "o" else 16)  # linear in length: no digit limit
            return value if value.bit_length() <= _MAX_INT_BITS else TooLargeInteger(text)
        if _INF.match(text):
            return -math.inf if text[0] == "-" else math.inf
        if _NAN.match(text):
            return math.nan
    return text
