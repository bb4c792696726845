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

DETECT_BYTES = 2 * 1024 * 1024
# "Holds most of the content": a clear majority, so that a deposit of one work whose citation list
# is half its text stays one record, while a citation-only deposit gets a row per citation.
RECORD_SHARE = 2 / 3
_CHUNK = 64 * 1024

ClarkPath = tuple[str, ...]


@dataclass
class PathStats:
    display: str  # "/doi_batch/body/journal", prefixes as written
    clark: ClarkPath = ()
    count: int = 0
    max_siblings: int = 0
    content: int = 0
    children: dict[str, PathStats] = field(default_factory=dict, repr=False)  # by child tag


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
    parser = etree.XMLPullParser(events=("start",), **PARSER_OPTIONS)
    root = None
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
                for _event, element in parser.read_events():
                    if root is None:
                        refuse_entity_declarations(element)
                        root = element
    except etree.XMLSyntaxError as error:
        raise XmlDocumentError.from_syntax_error(error) from None
    if root is None:
        raise XmlDocumentError("no root element in the part of the document read")
    names = Names()
    root_stats = structure.paths[(root.tag,)] = PathStats("/" + names.element(root), (root.tag,), count=1)
    structure.total_content = _walk(root, root_stats, structure.paths, names)
    return structure


def _walk(element: etree._Element, stats: PathStats, paths: dict[ClarkPath, PathStats], names: Names) -> int:
    """Count ``element``'s subtree into ``paths``; returns its content size."""
    content = 0
    if element.keys():
        content = sum(len(value) for value in element.values())
    text = element.text
    if text:
        content += len(text.strip())
    if not len(element):
        stats.content += content
        return content
    siblings: dict[str, int] = {}
    known = stats.children
    for child in element:
        tag = child.tag
        child_stats = known.get(tag)
        if child_stats is None:
            if type(tag) is not str:
                continue
            clark = (*stats.clark, tag)
            child_stats = known[tag] = paths[clark] = PathStats(stats.display + "/" + names.element(child), clark)
        n = siblings[tag] = siblings.get(tag, 0) + 1
        child_stats.count += 1
        if n > child_stats.max_siblings:
            child_stats.max_siblings = n
        content += _walk(child, child_stats, paths, names)
    stats.content += content
    return content


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
