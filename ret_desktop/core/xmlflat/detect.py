"""Record detection: which element path is "one row".

The record is the shallowest element path that repeats under one parent and holds most of the
content (text and attribute characters) of the documents; where there is none, each document is
one record. Detection reads at most a bounded prefix of each document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from ret_desktop.core.xmlflat.names import PARSER_OPTIONS, Names, XmlDocumentError, refuse_entity_declarations

DETECT_BYTES = 4 * 1024 * 1024
# "Holds most of the content": a clear majority, so that a deposit of one work whose citation list
# is half its text stays one record, while a citation-only deposit gets a row per citation.
RECORD_SHARE = 2 / 3
_CHUNK = 64 * 1024

ClarkPath = tuple[str, ...]


@dataclass
class PathStats:
    display: str  # "/doi_batch/body/journal", prefixes as written
    count: int = 0
    max_siblings: int = 0
    content: int = 0


@dataclass
class DocumentStructure:
    paths: dict[ClarkPath, PathStats] = field(default_factory=dict)
    total_content: int = 0
    complete: bool = False  # the whole document was read

    @property
    def root(self) -> ClarkPath:
        return next(iter(self.paths))

    @property
    def root_name(self) -> str:
        return self.paths[self.root].display.lstrip("/")


def scan_structure(path: Path, max_bytes: int = DETECT_BYTES) -> DocumentStructure:
    """Element paths of ``path`` with counts, sibling repeats and content sizes, from at most
    ``max_bytes`` of it. Raises XmlDocumentError for a malformed prefix or a refused document."""
    structure = DocumentStructure()
    names = Names()
    parser = etree.XMLPullParser(events=("start", "end"), **PARSER_OPTIONS)
    # Each open element: [clark path, content so far, {child tag: count}]
    stack: list[list] = []
    read = 0
    try:
        with open(path, "rb") as handle:
            while read < max_bytes:
                chunk = handle.read(_CHUNK)
                if not chunk:
                    parser.close()
                    structure.complete = True
                    break
                read += len(chunk)
                parser.feed(chunk)
                _consume(parser.read_events(), stack, structure, names)
            _consume(parser.read_events(), stack, structure, names)
    except etree.XMLSyntaxError as error:
        raise XmlDocumentError.from_syntax_error(error) from None
    if not structure.paths:
        raise XmlDocumentError("no root element in the part of the document read")
    while stack:  # only a prefix was read: count what the open elements held so far
        frame = stack.pop()
        structure.paths[frame[0]].content += frame[1]
        if stack:
            stack[-1][1] += frame[1]
        else:
            structure.total_content = frame[1]
    return structure


def _consume(events, stack: list[list], structure: DocumentStructure, names: Names) -> None:
    paths = structure.paths
    for event, element in events:
        if event == "start":
            if not stack:
                refuse_entity_declarations(element)
                clark: ClarkPath = (element.tag,)
                display = "/" + names.element(element)
            else:
                parent = stack[-1]
                clark = (*parent[0], element.tag)
                siblings = parent[2]
                siblings[element.tag] = siblings.get(element.tag, 0) + 1
                display = None
            stats = paths.get(clark)
            if stats is None:
                if display is None:
                    display = paths[stack[-1][0]].display + "/" + names.element(element)
                stats = paths[clark] = PathStats(display)
            stats.count += 1
            if stack:
                stats.max_siblings = max(stats.max_siblings, stack[-1][2][element.tag])
            content = sum(len(value) for value in element.attrib.values())
            stack.append([clark, content, {}])
        else:
            frame = stack.pop()
            text = element.text
            if text:
                frame[1] += len(text.strip())
            paths[frame[0]].content += frame[1]
            if stack:
                stack[-1][1] += frame[1]
                element.clear()
                parent = element.getparent()
                while element.getprevious() is not None:
                    del parent[0]
            else:
                structure.total_content = frame[1]


def choose_record_path(structures: list[DocumentStructure]) -> ClarkPath | None:
    """The record path for a group of documents, or None when each document is one record."""
    merged: dict[ClarkPath, list[int]] = {}
    total = 0
    for structure in structures:
        total += structure.total_content
        for clark, stats in structure.paths.items():
            entry = merged.setdefault(clark, [0, 0])
            entry[0] = max(entry[0], stats.max_siblings)
            entry[1] += stats.content
    candidates = [
        (len(clark), -content, clark)
        for clark, (max_siblings, content) in merged.items()
        if len(clark) > 1 and max_siblings >= 2 and total and content / total >= RECORD_SHARE
    ]
    return min(candidates)[2] if candidates else None


def resolve_record_path(text: str, structure: DocumentStructure) -> ClarkPath | None:
    """A record path typed by a person (``/doi_batch/body/journal/journal_article``, prefixes as the
    document writes them, or local names only) as the document's element path, if it has it."""
    wanted = "/" + text.strip().strip("/")
    for clark, stats in structure.paths.items():
        if stats.display == wanted:
            return clark
    wanted_local = [part.split(":")[-1] for part in wanted.strip("/").split("/")]
    for clark in structure.paths:
        if [etree.QName(tag).localname for tag in clark] == wanted_local:
            return clark
    return None


def repeating_paths(structures: list[DocumentStructure], record: ClarkPath) -> set[ClarkPath]:
    """Paths below ``record`` that repeat under one parent (the child tables of relational mode)."""
    found: set[ClarkPath] = set()
    for structure in structures:
        for clark, stats in structure.paths.items():
            if len(clark) > len(record) and clark[: len(record)] == record and stats.max_siblings >= 2:
                found.add(clark)
    return found
