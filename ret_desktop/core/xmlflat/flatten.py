"""The streaming flattener: one pass over a document, one row per record.

Only record elements are reported by the parser (lxml filters by tag in C); everything else is
picked up from the tree when a record ends: the record's preceding siblings and those of its
ancestors are the context carried onto its row, and are then deleted, like the record itself, so
memory holds little more than the largest record. Context that appears after records of the same
ancestor (a trailer) is written back onto those rows through the sink.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from lxml import etree

from ret_desktop.core.xmlflat.detect import ClarkPath
from ret_desktop.core.xmlflat.names import PARSER_OPTIONS, Names, XmlDocumentError, refuse_entity_declarations

FILE_COLUMN = "_file"
RECORD_COLUMN = "_record"
ITEM_COLUMN = "_item"
TEXT_COLUMN = "text()"

Pairs = list[tuple[str, str]]


class RowSink(Protocol):
    def add_row(self, table: str, pairs: Pairs) -> int:
        """Store one row (column name, value pairs) and return its handle; handles increase."""

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


class _Walker:
    """Turns an element into (column, value) pairs, columns relative to a base path."""

    def __init__(self, names: Names, child_tables: dict[ClarkPath, str]) -> None:
        self.names = names
        self.element_name = names.element
        self.child_tables = child_tables
        self.child_rows: dict[str, list[Pairs]] = {}

    def element(self, element: etree._Element, path: str, clark: ClarkPath | None, out: Pairs) -> None:
        """Pairs of ``element`` itself at ``path`` (an empty path for the record itself)."""
        attrib = element.attrib
        if attrib:
            attribute_name = self.names.attribute
            prefix = f"{path}/@" if path else "@"
            for key, value in attrib.items():
                out.append((prefix + attribute_name(element, key), value))
        has_children = False
        for child in element:
            if type(child.tag) is str:
                has_children = True
                break
        if not has_children:
            out.append((path or TEXT_COLUMN, (element.text or "").strip()))
        elif _is_mixed(element):
            out.append((path or TEXT_COLUMN, "".join(element.itertext()).strip()))
            self._attributes_below(element, f"{path}/" if path else "", out)
        else:
            self.children(element, f"{path}/" if path else "", clark, out)

    def children(self, element: etree._Element, prefix: str, clark: ClarkPath | None, out: Pairs) -> None:
        counts: dict[str, int] = {}
        element_name = self.element_name
        child_tables = self.child_tables
        for child in element:
            tag = child.tag
            if type(tag) is not str:
                continue
            name = element_name(child)
            n = counts.get(name, 0) + 1
            counts[name] = n
            child_clark = (*clark, tag) if clark is not None else None
            if child_clark is not None and child_clark in child_tables:
                item: Pairs = [(ITEM_COLUMN, str(n))]
                self.element(child, "", None, item)
                self.child_rows.setdefault(child_tables[child_clark], []).append(item)
                continue
            path = f"{prefix}{name}" if n == 1 else f"{prefix}{name}[{n}]"
            if child.attrib or len(child):
                self.element(child, path, child_clark, out)
            else:
                out.append((path, (child.text or "").strip()))

    def _attributes_below(self, element: etree._Element, prefix: str, out: Pairs) -> None:
        """Attributes inside a mixed-content element, whose text is already one value."""
        counts: dict[str, int] = {}
        for child in element:
            if type(child.tag) is not str:
                continue
            name = self.element_name(child)
            n = counts.get(name, 0) + 1
            counts[name] = n
            path = f"{prefix}{name}" if n == 1 else f"{prefix}{name}[{n}]"
            for key, value in child.attrib.items():
                out.append((f"{path}/@{self.names.attribute(child, key)}", value))
            self._attributes_below(child, path + "/", out)


def _is_mixed(element: etree._Element) -> bool:
    text = element.text
    if text and not text.isspace():
        return True
    for child in element:
        tail = child.tail
        if tail and not tail.isspace():
            return True
    return False


@dataclass
class _Level:
    """One open ancestor of the records, with the context gathered under it."""

    element: etree._Element
    display: str
    pairs: Pairs = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    first_row: int | None = None


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
            while True:
                child = ancestor[0] if len(ancestor) else None
                if child is None or child is on_path:
                    break
                if depth + 1 < len(self.levels) and child is self.levels[depth + 1].element:
                    self._close_from(depth + 1)  # an earlier instance of the next ancestor; removes it
                    continue
                if type(child.tag) is str:
                    self._absorb(level, child)
                del ancestor[0]
        carried: Pairs = []
        for level in self.levels:
            carried += level.pairs
        return carried

    def row_added(self, handle: int) -> None:
        self.last_row = handle
        for level in self.levels:
            if level.first_row is None:
                level.first_row = handle

    def finish(self) -> None:
        """At the end of the document: what follows the last records is carried onto their rows."""
        self._close_from(0)

    def _own_values(self, level: _Level) -> None:
        element = level.element
        for key, value in element.attrib.items():
            level.pairs.append((f"{level.display}/@{self.walker.names.attribute(element, key)}", value))
        if element.text and not element.text.isspace():
            level.pairs.append((f"{level.display}/{TEXT_COLUMN}", element.text.strip()))

    def _absorb(self, level: _Level, child: etree._Element) -> None:
        name = self.walker.element_name(child)
        n = level.counts.get(name, 0) + 1
        level.counts[name] = n
        new: Pairs = []
        self.walker.element(child, f"{level.display}/{name}" if n == 1 else f"{level.display}/{name}[{n}]", None, new)
        level.pairs += new
        if level.first_row is not None:  # rows under this ancestor exist already: carry it onto them too
            self.sink.backfill(self.table, level.first_row, self.last_row, new)

    def _close_from(self, depth: int) -> None:
        """Close the levels from ``depth`` down: their remaining content is a trailer of their rows.
        Each closed ancestor is then removed from the tree."""
        while len(self.levels) > depth:
            level = self.levels.pop()
            for child in list(level.element):
                if type(child.tag) is str:
                    self._absorb(level, child)
                level.element.remove(child)
            parent = level.element.getparent()
            if parent is not None:
                parent.remove(level.element)


def check_prolog(path: Path) -> None:
    """Refuse a document that declares entities, before reading any of its content."""
    parser = etree.XMLPullParser(events=("start",), **PARSER_OPTIONS)
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(64 * 1024):
                parser.feed(chunk)
                for _event, element in parser.read_events():
                    refuse_entity_declarations(element)
                    return
    except etree.XMLSyntaxError as error:
        raise XmlDocumentError.from_syntax_error(error) from None
    raise XmlDocumentError("no root element")


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
) -> int:
    """Stream ``path`` into ``sink``: one row of ``table`` per element at ``record`` (a path of
    Clark names from the root; None: the whole document is one record). In relational mode
    ``child_tables`` maps repeating paths below the record to their child tables.
    Returns the number of records. Raises XmlDocumentError (with line and column) or
    FlattenCancelled; rows already given to the sink are then the caller's to discard."""
    check_prolog(path)
    names = Names()
    walker = _Walker(names, child_tables or {})
    context = _Context(record or (), walker, sink, table)
    records = 0
    with open(path, "rb") as handle:
        reader = _CountingReader(handle, on_bytes, should_cancel)
        tag = record[-1] if record else None
        depth = len(record) - 1 if record else 0
        try:
            events = etree.iterparse(reader, events=("end",), tag=tag, **PARSER_OPTIONS)
            root = None
            for _event, element in events:
                chain: list[etree._Element] = []
                parent = element.getparent()
                while parent is not None:
                    chain.append(parent)
                    parent = parent.getparent()
                if record is None:
                    if chain:
                        continue  # not the root
                elif len(chain) != depth or any(a.tag != t for a, t in zip(reversed(chain), record)):
                    continue  # the record's tag, somewhere else
                chain.reverse()
                root = chain[0] if chain else element
                carried = context.enter(chain, element) if chain else []
                records += 1
                row: Pairs = [(FILE_COLUMN, file_label), (RECORD_COLUMN, str(records)), *carried]
                walker.element(element, "", (record or (element.tag,)) if child_tables else None, row)
                handle_ = sink.add_row(table, row)
                context.row_added(handle_)
                for child_table, items in walker.child_rows.items():
                    for item in items:
                        sink.add_row(child_table, [(FILE_COLUMN, file_label), (RECORD_COLUMN, str(records)), *item])
                walker.child_rows.clear()
                if chain:
                    element.clear()
                    del chain[-1][0]
            if root is not None:
                context.finish()
            elif record is not None:
                raise XmlDocumentError(f"no element at the record path {'/'.join(record)}")
        except etree.XMLSyntaxError as error:
            raise XmlDocumentError.from_syntax_error(error) from None
    return records
