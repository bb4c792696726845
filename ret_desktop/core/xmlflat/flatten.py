"""The streaming flattener: one pass over a document, one row per record.

Only record elements are reported by the parser (lxml filters by tag in C); everything else is
picked up from the tree when a record ends: the record's preceding siblings and those of its
ancestors are the context carried onto its row, and are then deleted, like the record itself, so
memory holds little more than the largest record. Context that appears after records of the same
ancestor (a trailer) is written back onto those rows through the sink.

Rows leave laid out in the document's own column order (first seen first). A record of a shape
seen before is not walked element by element: it is serialised (in C) and matched against that
shape's pattern, whose groups are its values (``_KnownShapes``); anything the pattern does not
cover (a new element, mixed content, a comment, an escaped character) takes the general walk. A run
of records of one shape is serialised with their parent in one go, where no namespace is declared
above them (``settle``).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Callable, Protocol, Sequence

from lxml import etree

from ret_desktop.core.xmlflat.entities import PARSER_ENCODING, EntityFilter, ascii_compatible
from ret_desktop.core.xmlflat.names import (
    ANY_DEPTH,
    ANY_ELEMENT,
    FILE_COLUMN,
    ITEM_COLUMN,
    RECORD_COLUMN,
    ClarkPath,
    MANY_ATTRIBUTES,
    PARSER_OPTIONS,
    Names,
    XmlDocumentError,
    attribute_items,
    check_prolog,
    entity_text,
)

TEXT_COLUMN = "text()"

Pairs = list[tuple[str, str]]


class RowSink(Protocol):
    """Where one document's rows go."""

    def add_columns(self, table: str, names: list[str]) -> None:
        """New columns of ``table`` in this document, in first-seen order, before the first row that has them."""

    def add_row(self, table: str, values: Sequence[str]) -> int:
        """Store one row: a value per column of ``table`` announced so far (fewer: the others are
        empty). Returns its handle: 0 for the document's first row of ``table``, then one more each."""

    def add_rows(self, table: str, rows: list[Sequence[str]]) -> None:
        """Store these rows, as ``add_row`` each (their handles follow on); the list is the sink's."""

    def backfill(self, table: str, first: int, last: int, pairs: Pairs) -> None:
        """Set these columns on the rows ``first``..``last`` (handles) of ``table``."""


class FlattenCancelled(Exception):
    pass


class _CountingReader:
    """A file wrapper that reports bytes read and stops the parse when asked to cancel."""

    def __init__(self, handle, on_bytes: Callable[[int], None], should_cancel: Callable[[], bool]) -> None:
        self._handle = handle
        self._on_bytes = on_bytes
        self._should_cancel = should_cancel
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        if self._should_cancel():
            raise FlattenCancelled()
        data = self._handle.read(size)
        self.read_bytes += len(data)
        self._on_bytes(len(data))
        return data


class _ReadsEndBeforeTags:
    """Reads of an ASCII-compatible stream that end before the last "<" they hold. libxml2 drops
    blank text (remove_blank_text) unless the next bytes are "</"; where a read ended between the
    "<" and the "/", it could not see them, and a blank inside inline markup went or stayed by where
    the read ended."""

    def __init__(self, source) -> None:
        self._source = source
        self._rest = b""

    def read(self, size: int = -1) -> bytes:
        data = self._rest + self._source.read(size)
        cut = data.rfind(b"<")
        if cut > 0:
            self._rest = data[cut:]
            return data[:cut]
        self._rest = b""
        return data


class _Node:
    """One column path (``contributors/person_name[2]``), made once per document and reused for
    every record: its children by tag, its repeats, and its child table in relational mode."""

    __slots__ = ("path", "prefix", "clark", "children", "repeats", "child_table", "seen_in", "count")

    def __init__(self, path: str, clark: ClarkPath | None, child_table: str | None = None) -> None:
        self.path = path
        self.prefix = f"{path}/" if path else ""
        self.clark = clark
        self.children: dict[str, _Node] = {}
        self.repeats: dict[str, list[_Node]] = {}
        self.child_table = child_table
        # Occurrences under the parent element walked last: counting on the node itself spares a
        # dictionary per element. ``seen_in`` is that walk's number.
        self.seen_in = 0
        self.count = 0


class _Walker:
    """Turns an element into (column, value) pairs, columns relative to a base path.

    The hot path of conversion: one loop over each element's children, with every column path
    looked up in the tree of _Node rather than built again.
    """

    def __init__(self, names: Names, child_tables: dict[ClarkPath, str]) -> None:
        self.names = names
        self.child_tables = child_tables
        self.child_rows: list[tuple[str, Pairs]] = []  # (child table, row) of the record, in document order
        self._tag_names: dict[str, str] = {}
        self._attribute_names: dict[str, str] = {}
        self._roots: dict[tuple[str, ClarkPath | None], _Node] = {}
        self._walks = 0

    def root(self, path: str, clark: ClarkPath | None) -> _Node:
        """The node of a record (path "") or of a context element (an absolute path)."""
        node = self._roots.get((path, clark))
        if node is None:
            node = self._roots[(path, clark)] = _Node(path, clark)
        return node

    def element_name(self, element: etree._Element) -> str:
        name = self._tag_names.get(element.tag)
        if name is None:
            # One prefix per namespace and document: the first one seen names the columns.
            name = self._tag_names[element.tag] = self.names.element(element)
        return name

    def _child_node(self, parent: _Node, child: etree._Element, n: int) -> _Node:
        name = self.element_name(child)
        path = parent.prefix + name if n == 1 else f"{parent.prefix}{name}[{n}]"
        clark = (*parent.clark, child.tag) if parent.clark is not None else None
        node = _Node(path, clark, self.child_tables.get(clark) if clark else None)
        if n == 1:
            parent.children[child.tag] = node
        else:
            parent.repeats.setdefault(child.tag, []).append(node)
        return node

    def element(self, element: etree._Element, node: _Node, out: Pairs) -> None:
        """Pairs of ``element`` itself, at ``node``."""
        keys = element.keys()
        if keys:
            attributes = element.items() if len(keys) < MANY_ATTRIBUTES else attribute_items(element)
            self.attributes(element, attributes, node.prefix + "@", out)
        start = len(out)
        children_before = len(self.child_rows)
        text = element.text
        elements, texts_between, pieces = self._children(element, node, out)
        if pieces:  # text after a comment, processing instruction or entity reference
            text = (text or "") + "".join(pieces)
        if not elements:
            out.append((node.path or TEXT_COLUMN, text.strip() if text else ""))
            return
        if text and not text.isspace():
            texts_between += 1
        if not texts_between:
            return
        if _inline_markup(element, elements, texts_between):
            # Text beside inline markup (<jats:italic>, <b>) is one value: its whole text.
            del out[start:]
            del self.child_rows[children_before:]
            out.append((node.path or TEXT_COLUMN, joined_text(element).strip()))
            self._attributes_below(element, node.prefix, out)
        else:  # stray text beside structure: the children keep their columns, the text has its own
            out.append((node.path or TEXT_COLUMN, own_text(element)))

    def attributes(self, element: etree._Element, attributes: list[tuple[str, str]], prefix: str,
                    out: Pairs) -> None:
        names = self._attribute_names
        for key, value in attributes:
            name = names.get(key)
            if name is None:
                name = names[key] = self.names.attribute(element, key)
            out.append((prefix + name, value))

    def _children(self, element: etree._Element, node: _Node, out: Pairs) -> tuple[int, int, list[str] | None]:
        """Pairs of the children; returns (child elements, non-blank texts after them, the text
        pieces that follow comments, processing instructions and entity references)."""
        append = out.append
        known = node.children
        self._walks += 1
        walk_number = self._walks
        elements = mixed = 0
        pieces = None
        for child in element:
            tag = child.tag
            first = known.get(tag)
            if first is None:
                if type(tag) is not str:
                    if pieces is None:
                        pieces = []
                    if tag is etree.Entity:
                        pieces.append(entity_text(child))
                    if child.tail:
                        pieces.append(child.tail)
                    continue
                first = self._child_node(node, child, 1)
            if first.seen_in != walk_number:
                first.seen_in = walk_number
                first.count = n = 1
                child_node = first
            else:
                n = first.count = first.count + 1
                repeats = node.repeats.get(tag)
                child_node = repeats[n - 2] if repeats and len(repeats) >= n - 1 else self._child_node(node, child, n)
            elements += 1
            tail = child.tail
            if tail and not tail.isspace():
                mixed += 1
            if child_node.child_table is not None:
                item: Pairs = [(ITEM_COLUMN, str(n))]
                self.element(child, self.root("", None), item)
                self.child_rows.append((child_node.child_table, item))
            elif len(child):
                self.element(child, child_node, out)
            else:  # a leaf: its attributes and its text
                keys = child.keys()
                if keys:
                    attributes = child.items() if len(keys) < MANY_ATTRIBUTES else attribute_items(child)
                    self.attributes(child, attributes, child_node.prefix + "@", out)
                text = child.text
                append((child_node.path, text.strip() if text else ""))
        return elements, mixed, pieces

    def _attributes_below(self, element: etree._Element, prefix: str, out: Pairs) -> None:
        """Attributes inside a mixed-content element, whose text is already one value."""
        counts: dict[str, int] = {}
        for child in element:
            if type(child.tag) is not str:
                continue
            name = self.element_name(child)
            n = counts[name] = counts.get(name, 0) + 1
            path = f"{prefix}{name}" if n == 1 else f"{prefix}{name}[{n}]"
            self.attributes(child, attribute_items(child) or [], path + "/@", out)
            self._attributes_below(child, path + "/", out)


def _inline_markup(element: etree._Element, elements: int, texts: int) -> bool:
    """Text beside child elements is prose with inline markup when the text runs between the
    children (at least as many pieces of text as children) and no child has children of its own;
    otherwise the children are structure and the text a stray piece beside them."""
    if texts < elements:
        return False
    return not any(len(child) and any(type(c.tag) is str for c in child) for child in element)


def joined_text(element: etree._Element) -> str:
    """All text of ``element`` and its descendants in document order, comments and processing
    instructions left out but the text after them kept, entity references as their characters."""
    text = "".join(element.itertext())  # lxml leaves out comments and PIs, keeps their tails
    if "&" not in text:
        return text
    parts: list[str] = []  # itertext gives an entity left in the tree as written: "&uuml;"
    _join(element, parts)
    return "".join(parts)


def _join(element: etree._Element, parts: list[str]) -> None:
    if element.text:
        parts.append(element.text)
    for child in element:
        tag = child.tag
        if type(tag) is str:
            _join(child, parts)
        elif tag is etree.Entity:
            parts.append(entity_text(child))
        if child.tail:
            parts.append(child.tail)


def own_text(element: etree._Element) -> str:
    """The text directly inside ``element`` (not its children's), pieces trimmed and joined by a space."""
    parts = [element.text or ""]
    for child in element:
        if child.tag is etree.Entity:
            parts.append(entity_text(child))
        parts.append(child.tail or "")
    return " ".join(part.strip() for part in parts if part and not part.isspace())


@dataclass
class _Level:
    """One open ancestor of the records, with the context gathered under it."""

    element: etree._Element
    display: str
    pairs: Pairs = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    first_row: int | None = None
    path_tag: str | None = None  # the tag of the child on the way to the records: its siblings of
    # that tag are other branches (a folder without placemarks), never carried onto these rows
    text: str = ""  # the ancestor's own text so far


class _Context:
    def __init__(self, record: ClarkPath, walker: _Walker, sink: RowSink, table: str) -> None:
        self.record = record
        self.walker = walker
        self.sink = sink
        self.table = table
        self.levels: list[_Level] = []
        self.last_row: int | None = None

    def enter(self, chain: list[etree._Element], record_element: etree._Element) -> Pairs:
        """Absorb the context before ``record_element`` (whose ancestors are ``chain``, root first)
        and return the pairs to carry onto its row."""
        for depth, ancestor in enumerate(chain):
            if depth < len(self.levels) and self.levels[depth].element is not ancestor:
                self._close_from(depth)
            if depth == len(self.levels):
                display = (self.levels[-1].display if self.levels else "") + "/" + self.walker.element_name(ancestor)
                level = _Level(ancestor, display)
                self._own_values(level)
                self.levels.append(level)
            on_path = chain[depth + 1] if depth + 1 < len(chain) else record_element
            level = self.levels[depth]
            level.path_tag = on_path.tag
            while True:
                child = ancestor[0] if len(ancestor) else None
                if child is None or child is on_path:
                    break
                if depth + 1 < len(self.levels) and child is self.levels[depth + 1].element:
                    self._close_from(depth + 1)  # an earlier instance of the next ancestor; removes it
                    continue
                self._absorb(level, child)
                del ancestor[0]
        carried: Pairs = []
        for level in self.levels:
            carried += level.pairs
        return carried

    def row_added(self, handle: int) -> None:
        self.last_row = handle
        if self.levels and self.levels[-1].first_row is None:
            for level in self.levels:
                if level.first_row is None:
                    level.first_row = handle

    def finish(self) -> None:
        """At the end of the document: what follows the last records is carried onto their rows."""
        self._close_from(0)

    def _own_values(self, level: _Level) -> None:
        element = level.element
        self.walker.attributes(element, attribute_items(element) or [], f"{level.display}/@", level.pairs)
        self._add_text(level, element.text)

    def _add_text(self, level: _Level, text: str | None) -> None:
        """Text directly inside an ancestor of the records: its ``text()`` column."""
        if not text or text.isspace():
            return
        column = f"{level.display}/{TEXT_COLUMN}"
        level.text = f"{level.text} {text.strip()}" if level.text else text.strip()
        pair = (column, level.text)
        level.pairs = [p for p in level.pairs if p[0] != column] + [pair]
        if level.first_row is not None:
            self.sink.backfill(self.table, level.first_row, self.last_row, [pair])

    def _absorb(self, level: _Level, child: etree._Element) -> None:
        tag = child.tag
        if type(tag) is not str:
            self._add_text(level, (entity_text(child) if tag is etree.Entity else "") + (child.tail or ""))
            return
        self._add_text(level, child.tail)
        if tag == level.path_tag:
            return  # another branch of the same kind as the records' own: not context of these rows
        name = self.walker.element_name(child)
        n = level.counts.get(name, 0) + 1
        level.counts[name] = n
        new: Pairs = []
        path = f"{level.display}/{name}" if n == 1 else f"{level.display}/{name}[{n}]"
        self.walker.element(child, self.walker.root(path, None), new)
        level.pairs += new
        if level.first_row is not None:  # rows under this ancestor exist already: carry it onto them too
            self.sink.backfill(self.table, level.first_row, self.last_row, new)

    def _close_from(self, depth: int) -> None:
        """Close the levels from ``depth`` down: their remaining content is a trailer of their rows.
        Each closed ancestor is then removed from the tree."""
        while len(self.levels) > depth:
            level = self.levels.pop()
            for child in list(level.element):
                self._absorb(level, child)
                level.element.remove(child)
            parent = level.element.getparent()
            if parent is not None:
                parent.remove(level.element)


class _Layout:
    """The columns of one table in this document, in first-seen order: where each value goes."""

    def __init__(self, sink: RowSink, table: str) -> None:
        self.sink = sink
        self.table = table
        self.slots: dict[str, int] = {}

    def slot(self, name: str) -> int:
        place = self.slots.get(name)
        if place is None:
            place = self.slots[name] = len(self.slots)
            self.sink.add_columns(self.table, [name])
        return place

    def values(self, pairs: Pairs) -> list[str]:
        """``pairs`` as one value per column (announcing the new ones); a name twice: the last counts."""
        slots = self.slots
        row = [""] * len(slots)
        try:
            for name, value in pairs:
                row[slots[name]] = value
        except KeyError:
            new = [name for name in dict.fromkeys(name for name, _value in pairs) if name not in slots]
            for name in new:
                slots[name] = len(slots)
            self.sink.add_columns(self.table, new)
            row = [""] * len(slots)
            for name, value in pairs:
                row[slots[name]] = value
        return row


# A serialised record, read as tokens: a start tag (name, attributes, "/" if empty), an end tag, or text.
_TOKEN = re.compile(r'<(/?)([^\s/<>!?"]+)((?:\s+[^\s=<>"]+="[^"<>]*")*)(\s*)(/?)>|([^<]+)')
_ATTRIBUTE = re.compile(r'(\s+)([^\s=<>"]+)="([^"<>]*)"')
_MAX_SHAPES = 512  # per document
_MAX_SHAPES_ALIKE = 8  # with as many tags: each is tried in turn
_ROWS_PER_HAND_OVER = 256
_MAX_HELD = 512  # records held in the tree to be serialised with their parent
_MAX_HELD_BYTES = 256 * 1024  # of the document read while they are
_MAX_PARENT_START = 4096  # characters of their parent's start tag and text
_MAX_SHAPE_CHARS = 16 * 1024  # a longer record is walked: its pattern would cost more than it saves
_TRIES_BEFORE_GIVING_UP = 256  # records that missed every known shape, before judging whether shapes pay
# Shapes' patterns (and which groups are leaf texts) by the skeleton of the records they were made
# of, for every document of this process.
_PATTERNS: dict[str, list[tuple[re.Pattern, list[bool]]]] = {}
_MAX_PATTERNS = 256
_PATTERNS_LOCK = threading.Lock()
_QUOTED = re.compile(r'"[^"]*"')
_BLANKS = re.compile(r"[ \t\r\n]*+")  # XML's blanks, not str.isspace's
_TEXTS = re.compile(r">[^<]+<")


@dataclass
class _Shape:
    """One shape of record: its pattern, whose groups are the record's values in document order
    (attributes as written, leaf texts to be trimmed), and their column names."""

    pattern: re.Pattern
    names: list[str]
    trimmed: list[bool]  # per group: a leaf's text (trimmed), else an attribute (as it is)
    attributes: bool = False  # some group is an attribute
    carried: Pairs | None = None  # the carried pairs ``gather`` was made for
    carried_values: tuple[str, ...] = ()
    gather: Callable[[tuple], tuple] | None = None
    run_pattern: re.Pattern | None = None  # the pattern and the blanks after it (rows_of_run)


class _KnownShapes:
    """The shapes of the records seen so far, learnt from the general walk of a record and then
    matched against the serialised records that follow.

    A record matches a shape's pattern only when it has the same elements in the same order and
    nesting, with the same namespace declarations and attribute names, no comment, processing
    instruction or entity reference, and no text beside child elements (blanks aside): then the
    general walk would give the same columns in the same order, and the values are the pattern's
    groups, unescaped. A shape is kept only when its groups gave the
    learning record's values exactly. Documents whose records seldom repeat a shape stop trying."""

    def __init__(self, layout: _Layout) -> None:
        self.layout = layout
        self.by_tags: dict[int, list[_Shape]] = {}  # by the number of "<" in the serialised record
        self.seen_once: set[str] = set()  # skeletons seen once, with no pattern yet
        self.previous: _Shape | None = None  # the shape of the record before
        self.first_try: _Shape | None = None  # a shape that came twice running: tried before the others
        self.shapes = 0
        self.hits = 0
        self.misses = 0
        self.active = True

    def row(self, text: str, leading: tuple[str, ...], carried: Pairs) -> tuple | None:
        """The laid-out row of a serialised record (``leading``: its _file and _record values) when
        it has a known shape; else None."""
        shape = self.first_try
        match = shape.pattern.fullmatch(text) if shape is not None else None
        if match is None:
            self.first_try = None
            for shape in self.by_tags.get(text.count("<"), ()):
                match = shape.pattern.fullmatch(text)
                if match is not None:
                    if shape is self.previous:  # the same shape twice running: tried first from now on
                        self.first_try = shape
                    break
        groups = None if match is None else match.groups("")
        if groups is not None and "&" in text:
            groups = _unescaped(groups)
        if groups is None:
            self.previous = None
            self.misses += 1
            if self.misses >= _TRIES_BEFORE_GIVING_UP and self.misses > self.hits:
                self.active = False
            return None
        self.previous = shape
        self.hits += 1
        if shape.carried is not carried:
            self._make_gather(shape, carried)
        return _laid_out(shape, leading, groups)

    def rows_of_run(self, text: str, position: int, limit: int, file_label: str, number: int, carried: Pairs,
                    out: list[Sequence[str]]) -> tuple[int, int]:
        """Records serialised one after another in ``text`` from ``position`` on (their parent
        serialised whole) that have the shape of the records before (``first_try``): their rows,
        numbered from ``number`` + 1, go to ``out``, at most ``limit`` of them. Returns how many and
        where the next record starts. A match of the shape's pattern at the start of a record is
        that record whole, as the pattern's elements nest as the record's do; blanks between
        records (which the parser keeps beside other text) are no value."""
        shape = self.first_try
        if shape is None:
            return 0, position
        if shape.carried is not carried:
            self._make_gather(shape, carried)
        if shape.run_pattern is None:  # a record of the shape and the blanks after it
            shape.run_pattern = re.compile(f"(?:{shape.pattern.pattern}){_BLANKS.pattern}")
        match = shape.run_pattern.match
        escaped = "&" in text
        taken = 0
        while taken < limit:
            found = match(text, position)
            if found is None:
                break
            groups = found.groups("")
            end = found.end()
            if escaped and text.find("&", position, end) >= 0:
                groups = _unescaped(groups)
                if groups is None:
                    break
            taken += 1
            out.append(_laid_out(shape, (file_label, str(number + taken)), groups))
            position = end
        if taken:
            self.hits += taken
            self.previous = shape
        return taken, position

    def learn(self, text: str, pairs: Pairs) -> None:
        """Keep the shape of the record serialised as ``text``, which the general walk made ``pairs`` of."""
        if self.shapes >= _MAX_SHAPES or len(text) > _MAX_SHAPE_CHARS:
            return
        skeleton = _TEXTS.sub("><", _QUOTED.sub('""', text))  # the record without its values
        for pattern, trimmed in _PATTERNS.get(skeleton, ()):
            if self._keep(pattern, trimmed, text, pairs):
                return
        # Making a pattern costs about as much as walking a hundred records of its shape: it is
        # made the second time a skeleton is seen, and then kept for this process's other documents.
        if skeleton not in self.seen_once:
            self.seen_once.add(skeleton)
            return
        made = _shape_pattern(text)
        if made is None:
            return
        pattern, trimmed = re.compile(made[0]), made[1]
        with _PATTERNS_LOCK:  # conversions may run on several threads
            if skeleton not in _PATTERNS and len(_PATTERNS) >= _MAX_PATTERNS:
                del _PATTERNS[next(iter(_PATTERNS))]
            alike = _PATTERNS.setdefault(skeleton, [])
            alike.append((pattern, trimmed))
            del alike[:-_MAX_SHAPES_ALIKE]  # a skeleton blanks namespace URIs too: one per URI would pile up
        self._keep(pattern, trimmed, text, pairs)

    def _keep(self, pattern: re.Pattern, trimmed: list[bool], text: str, pairs: Pairs) -> bool:
        """Keep this shape if its pattern gives the record's values exactly."""
        match = pattern.fullmatch(text)
        groups = _unescaped(match.groups("")) if match is not None else None
        if groups is None or len(trimmed) != len(pairs):
            return False
        values = [value.strip() if trim else value for value, trim in zip(groups, trimmed)]
        if values != [value for _name, value in pairs]:
            return False
        alike = self.by_tags.setdefault(text.count("<"), [])
        if len(alike) < _MAX_SHAPES_ALIKE:
            alike.append(_Shape(pattern, [name for name, _v in pairs], trimmed, attributes=not all(trimmed)))
            self.shapes += 1
        return True

    def _make_gather(self, shape: _Shape, carried: Pairs) -> None:
        """Which value of (file, record, carried values[, groups], trimmed groups, "") each column
        takes (the groups as they are only where some are attributes)."""
        names = [FILE_COLUMN, RECORD_COLUMN, *(name for name, _value in carried)]
        base = len(names)
        count = len(shape.names)
        sources = list(range(base))
        for number, (name, trim) in enumerate(zip(shape.names, shape.trimmed)):
            names.append(name)
            sources.append(base + number + (count if trim and shape.attributes else 0))
        source_of: dict[int, int] = {}
        for name, source in zip(names, sources):
            source_of[self.layout.slot(name)] = source  # a name twice: the last counts, as in _Layout.values
        empty = base + count * (2 if shape.attributes else 1)
        width = len(self.layout.slots)
        order = [source_of.get(slot, empty) for slot in range(width)]
        in_order = not shape.attributes and order == list(range(empty))
        shape.gather = None if in_order else itemgetter(*order)
        shape.carried = carried
        shape.carried_values = tuple(value for _name, value in carried)


def _laid_out(shape: _Shape, leading: tuple[str, ...], groups: tuple[str, ...]) -> tuple:
    """The row of a record of ``shape`` (its gather made for the record's carried pairs) whose
    pattern's groups are ``groups``."""
    if shape.attributes:
        return shape.gather((*leading, *shape.carried_values, *groups, *map(str.strip, groups), ""))
    if shape.gather is None:  # the values are in the columns' order already
        return (*leading, *shape.carried_values, *map(str.strip, groups))
    return shape.gather((*leading, *shape.carried_values, *map(str.strip, groups), ""))


# What the serialiser escapes: the five predefined entities and character references.
_REFERENCE = re.compile(r"&(?:(lt|gt|amp|quot|apos)|#([0-9]+)|#x([0-9a-fA-F]+));")
_PREDEFINED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


def _character(reference: re.Match) -> str:
    name, decimal, hexadecimal = reference.groups()
    return _PREDEFINED[name] if name else chr(int(decimal) if decimal else int(hexadecimal, 16))


def _unescaped(groups: tuple[str, ...]) -> tuple[str, ...] | None:
    """Serialised values as their text; None if one holds a reference the serialiser does not make
    (an entity reference left in the tree, which the general walk resolves)."""
    values = []
    for value in groups:
        ampersands = value.count("&")
        if ampersands:
            value, references = _REFERENCE.subn(_character, value)
            if references != ampersands:
                return None
        values.append(value)
    return tuple(values)


def _shape_pattern(text: str) -> tuple[str, list[bool]] | None:
    """The pattern of a serialised record's shape (see _KnownShapes) and, per group, whether it is a
    leaf's text; None for a record the pattern cannot say (mixed content, a comment). Its repeats
    are possessive: what follows each never starts with what it repeats, so giving back cannot help."""
    tokens = []
    position = 0
    while position < len(text):
        token = _TOKEN.match(text, position)
        if token is None:
            return None
        tokens.append(token)
        position = token.end()
    parts: list[str] = []
    trimmed: list[bool] = []
    index = 0
    while index < len(tokens):
        closing, name, attributes, space, empty, between = tokens[index].groups()
        index += 1
        if between is not None:
            if not between.isspace():
                return None  # text beside child elements
            parts.append(r"\s*+")  # blanks here, as the parser kept them: any blanks
            continue
        if closing:
            parts.append(re.escape(f"</{name}>"))
            continue
        parts.append(re.escape(f"<{name}"))
        for attribute in _ATTRIBUTE.finditer(attributes):
            blank, key, _value = attribute.groups()
            if key == "xmlns" or key.startswith("xmlns:"):
                parts.append(re.escape(attribute.group(0)))
            else:
                parts.append(re.escape(f'{blank}{key}="') + '([^"<]*+)"')
                trimmed.append(False)
        parts.append(re.escape(space))
        leaf_end = None
        if empty:
            leaf_end = index
        elif index < len(tokens) and tokens[index].group(1) and tokens[index].group(2) == name:
            leaf_end = index + 1
        elif (index + 1 < len(tokens) and tokens[index].group(6) is not None and tokens[index + 1].group(1)
              and tokens[index + 1].group(2) == name):
            leaf_end = index + 2
        if leaf_end is None:
            parts.append(">")
        else:  # a leaf, written <name/> when it has no text
            parts.append("(?:/>|>([^<]*+)" + re.escape(f"</{name}>") + ")")
            trimmed.append(True)
            index = leaf_end
    return "".join(parts), trimmed


def _start_is_short(element: etree._Element) -> bool:
    """Whether ``element``'s text before its children, written again with each run of its records
    serialised, is short (its start tag, its text)."""
    return len(element.text or "") + sum(len(key) + len(value) for key, value in element.items()) < _MAX_PARENT_START


def _ancestors(element: etree._Element) -> list[etree._Element]:
    """The ancestors of ``element``, root first."""
    chain = []
    parent = element.getparent()
    while parent is not None:
        chain.append(parent)
        parent = parent.getparent()
    chain.reverse()
    return chain


def record_matcher(record: ClarkPath) -> Callable[[list[etree._Element], etree._Element], bool]:
    """Whether an element (with its ancestors, root first) is at ``record``: a path of tags, or one
    ending in ``*`` (any child element there) or in ``ANY_DEPTH, tag`` (that tag at any depth below)."""
    if ANY_DEPTH in record:
        prefix = record[: record.index(ANY_DEPTH)]
        return lambda chain, element: len(chain) >= len(prefix) and all(
            a.tag == t for a, t in zip(chain, prefix))
    parents = record[:-1]
    if record[-1] == ANY_ELEMENT:
        return lambda chain, element: type(element.tag) is str and len(chain) == len(parents) and all(
            a.tag == t for a, t in zip(chain, parents))
    return lambda chain, element: len(chain) == len(parents) and all(a.tag == t for a, t in zip(chain, parents))


def flatten_document(
    path: Path,
    record: ClarkPath | None,
    sink: RowSink,
    *,
    file_label: str,
    table: str,
    child_tables: dict[ClarkPath, str] | None = None,
    should_cancel: Callable[[], bool] = lambda: False,
    on_bytes: Callable[[int], None] = lambda n: None,
    warnings: list[str] | None = None,
    known_shapes: bool = True,
) -> int:
    """Stream ``path`` into ``sink``: one row of ``table`` per element at ``record`` (a path of
    Clark names from the root; None: the whole document is one record). In relational mode
    ``child_tables`` maps repeating paths below the record to their child tables.
    ``child_tables`` keys are paths of tags below the record element.
    Returns the number of records; ``warnings`` receives what the document's rows cannot say
    (named references kept literally). Raises XmlDocumentError (with line and column) or
    FlattenCancelled; rows already given to the sink are then the caller's to discard.
    ``known_shapes`` False: every record takes the general walk (what the known shapes are tested against)."""
    rewrite_references, encoding = check_prolog(path)
    walker = _Walker(Names(), child_tables or {})
    layouts: dict[str, _Layout] = {}

    def add_row(table_name: str, pairs: Pairs) -> int:
        layout = layouts.get(table_name)
        if layout is None:
            layout = layouts[table_name] = _Layout(sink, table_name)
        return sink.add_row(table_name, layout.values(pairs))

    context = _Context(record or (), walker, sink, table)
    walk = walker.element
    relational = bool(child_tables)
    record_node = walker.root("", () if relational else None)
    is_record = record_matcher(record) if record else None
    # one record per document: nothing to learn a shape from
    shapes = _KnownShapes(layouts.setdefault(table, _Layout(sink, table))) if record and known_shapes else None
    known = shapes.row if shapes is not None else None  # None once shapes do not pay
    serialise = etree.tostring
    row_added = context.row_added
    pending: list[Sequence[str]] = []  # rows of known shapes not handed over yet: they go in batches
    handles = 0  # the handle of the next row of ``table``

    def hand_over() -> None:
        nonlocal pending
        if pending:
            sink.add_rows(table, pending)
            pending = []

    records = 0
    found_record = False
    same_parent = None  # the records' parent while nothing but records arrive under it
    carried: Pairs = []
    # Records of one run of a known shape are held in the tree and serialised with their parent in
    # one go (``settle``) rather than one by one: where no namespace is declared above them, a
    # record's text there is its text alone. Not for ``/root/*``, whose children's events come first.
    may_hold = known is not None and record[-1] != ANY_ELEMENT
    holding = False  # records under ``same_parent`` may be held
    held = 0  # records held: the first children of ``same_parent``
    last_held = None
    held_from = 0  # the bytes read when the first was held

    def take(element: etree._Element, text: str | None = None) -> None:
        """The row of one record, whose context is entered (``text``: its serialisation, if made)."""
        nonlocal records, handles, known
        records += 1
        number = str(records)
        if known is not None:
            if text is None:
                text = serialise(element, encoding="unicode", with_tail=False)
            values = known(text, (file_label, number), carried)
            if values is not None:
                pending.append(values)
                row_added(handles)
                handles += 1
                if len(pending) >= _ROWS_PER_HAND_OVER:
                    hand_over()
                return
        else:
            text = None
        hand_over()
        row: Pairs = [(FILE_COLUMN, file_label), (RECORD_COLUMN, number)]
        row += carried
        own = len(row)
        walk(element, record_node, row)
        handle = add_row(table, row)
        handles = handle + 1
        row_added(handle)
        if walker.child_rows:
            for child_table, item in walker.child_rows:
                add_row(child_table, [(FILE_COLUMN, file_label), (RECORD_COLUMN, number), *item])
            walker.child_rows.clear()
        elif text is not None:
            shapes.learn(text, row[own:])
        if text is not None and not shapes.active:
            known = None

    def settle() -> None:
        """The rows of the held records, which then leave the tree."""
        nonlocal held, last_held, records, handles
        parent, count = same_parent, held
        held, last_held = 0, None
        text, first, position = "", None, -1  # position -1: each record is serialised alone
        if count > 1:  # one record alone: its parent's text would be its text and what was parsed after it
            text = serialise(parent, encoding="unicode", with_tail=False)  # and what is parsed after them
            first = serialise(parent[0], encoding="unicode", with_tail=False)
            position = text.find("<", 1)  # the parent's start tag holds no "<": the first record starts here
            if position < 0 or not text.startswith(first, position):
                position = -1  # not the records' own texts
        index = 0
        while index < count:
            if position >= 0 and known is not None:
                taken, position = shapes.rows_of_run(text, position, count - index, file_label, records, carried,
                                                     pending)
                if taken:
                    row_added(handles)
                    handles += taken
                    row_added(handles - 1)
                    records += taken
                    index += taken
                    if len(pending) >= _ROWS_PER_HAND_OVER:
                        hand_over()
                    continue
            element = parent[index]
            alone = first if index == 0 and first is not None else serialise(element, encoding="unicode",
                                                                             with_tail=False)
            if position >= 0:
                position = _BLANKS.match(text, position + len(alone)).end() if text.startswith(alone, position) else -1
            take(element, alone)
            index += 1
        del parent[:count]

    with open(path, "rb") as handle:
        reader = _CountingReader(handle, on_bytes, should_cancel)
        references = EntityFilter(reader, encoding) if rewrite_references else None
        source = references or reader
        if (references is not None and references.transcodes) or ascii_compatible(encoding):
            source = _ReadsEndBeforeTags(source)
        try:
            # Blank text between elements is never a value (values are trimmed): not creating it saves time.
            events = etree.iterparse(source, events=("end",),
                                     tag=record[-1] if record and record[-1] != ANY_ELEMENT else None,
                                     remove_blank_text=True,
                                     encoding=PARSER_ENCODING if references and references.transcodes else None,
                                     **PARSER_OPTIONS)
            taken_from = None  # the parent of the record taken last, which leaves the tree at the next event
            for _event, element in events:
                if taken_from is not None:
                    # With the text after it, parsed by now: had it gone at once, text parsed after
                    # a read ended with its end tag would be left to a record around it (at //tag).
                    del taken_from[0]
                    taken_from = None
                parent = element.getparent()
                if held:
                    if (parent is same_parent and element.getprevious() is last_held and held < _MAX_HELD
                            and reader.read_bytes - held_from < _MAX_HELD_BYTES):
                        held += 1
                        last_held = element
                        continue
                    if parent is not same_parent and not is_record(_ancestors(element), element):
                        continue  # the record's tag inside a record yet to end: the run goes on
                    settle()
                if parent is None or parent is not same_parent or parent[0] is not element:
                    chain = _ancestors(element)
                    if record is None:
                        if chain:
                            continue  # not the root
                    elif not is_record(chain, element):
                        continue  # the record's tag, somewhere else
                    found_record = True
                    hand_over()  # before the context writes back onto the rows
                    carried = context.enter(chain, element) if chain else []
                    if parent is not same_parent:
                        holding = may_hold and parent is not None and not parent.nsmap and _start_is_short(parent)
                    same_parent = parent
                if holding and known is not None and shapes.first_try is not None:
                    held = 1
                    last_held = element
                    held_from = reader.read_bytes
                    continue
                take(element)
                taken_from = parent  # the record, now a row, goes; its memory with the last reference
            if taken_from is not None:
                del taken_from[0]
            if held:
                settle()
            hand_over()
            if found_record:
                context.finish()
            elif record is not None:
                raise XmlDocumentError(f"no element at the record path {'/'.join(record)}")
        except etree.XMLSyntaxError as error:
            raise XmlDocumentError.from_syntax_error(error) from None
    if references is not None and references.unknown and warnings is not None:
        names = ", ".join(f"&{name};" for name in references.unknown[:5])
        more = f" and {len(references.unknown) - 5} more" if len(references.unknown) > 5 else ""
        warnings.append(f"unknown named references kept as written: {names}{more}")
    return records
