"""Record detection: which element path is "one row".

Documents of a known kind (by root element and namespace: UBL, ISO 20022, GPX, KML, spreadsheets,
feeds, OAI-PMH, MARCXML, PubMed, DBLP, drawings, property lists, build files) have their record
from ``kinds``. Otherwise the record is the shallowest element path that repeats under one parent
and holds most of the content (text and attribute characters) of the documents; else the only kind
of child of a root that holds nothing else, if it has fields of its own (a set of one article);
where there is none, each document is one record. Detection reads at
most a bounded prefix of each document.

A record path is a tuple of Clark names from the root; it may end in ``ANY_ELEMENT`` (every child
element there: ``/dblp/*``) or in ``ANY_DEPTH, tag`` (that element at any depth: ``/kml//Placemark``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from ret_desktop.core.xmlflat.entities import PARSER_ENCODING, EntityFilter
from ret_desktop.core.xmlflat.kinds import known_record
from ret_desktop.core.xmlflat.names import (
    ANY_DEPTH,
    ANY_ELEMENT,
    PARSER_OPTIONS,
    ClarkPath,
    Names,
    XmlDocumentError,
    attribute_items,
    check_prolog,
    refuse_entity_declarations,
)

DETECT_BYTES = 2 * 1024 * 1024
# "Holds most of the content": a clear majority, so that a deposit of one work whose citation list
# is half its text stays one record, while a citation-only deposit gets a row per citation.
RECORD_SHARE = 2 / 3
_CHUNK = 64 * 1024

# A wide row with more numbered columns than this is hard to read: relational mode or a deeper
# record serves better (said in describe_groups).
MANY_WIDE_COLUMNS = 300


@dataclass
class PathStats:
    display: str  # "/doi_batch/body/journal", prefixes as written
    clark: ClarkPath = ()
    count: int = 0
    max_siblings: int = 0
    content: int = 0
    fields: int = 0  # child elements and attributes, over all its elements
    children: dict[str, PathStats] = field(default_factory=dict, repr=False)  # by child tag


@dataclass
class DocumentStructure:
    paths: dict[ClarkPath, PathStats] = field(default_factory=dict)
    total_content: int = 0
    complete: bool = False  # the whole document was read
    namespaces: frozenset[str] = frozenset()  # bound on the root element

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
    rewrite_references, encoding = check_prolog(path)
    root = None
    read = 0
    try:
        with open(path, "rb") as raw:
            # Undeclared named references are rewritten as the flattener does.
            handle = EntityFilter(raw, encoding) if rewrite_references else raw
            # Blank text is no content (content is trimmed): not creating it saves time.
            parser = etree.XMLPullParser(
                events=("start",), remove_blank_text=True, **PARSER_OPTIONS,
                encoding=PARSER_ENCODING if rewrite_references and handle.transcodes else None)
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
    structure.namespaces = frozenset(uri for uri in root.nsmap.values() if uri)
    root_stats = structure.paths[(root.tag,)] = PathStats("/" + names.element(root), (root.tag,), count=1)
    structure.total_content = _walk(root, root_stats, structure.paths, names)
    return structure


def _walk(element: etree._Element, stats: PathStats, paths: dict[ClarkPath, PathStats], names: Names) -> int:
    """Count ``element``'s subtree into ``paths``; returns its content size."""
    content = 0
    attributes = attribute_items(element)
    if attributes:
        content = sum(len(value) for _key, value in attributes)
        stats.fields += len(attributes)
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
        stats.fields += 1
        child_stats.count += 1
        if n > child_stats.max_siblings:
            child_stats.max_siblings = n
        content += _walk(child, child_stats, paths, names)
    stats.content += content
    return content


def choose_record_path(structures: list[DocumentStructure]) -> ClarkPath | None:
    """The record path for a group of documents, or None when each document is one record."""
    if not structures:
        return None
    generic = _generic_record(structures)
    known = known_record(structures, generic)
    return generic if known is False else known


def _generic_record(structures: list[DocumentStructure]) -> ClarkPath | None:
    merged: dict[ClarkPath, list[int]] = {}
    total = 0
    for structure in structures:
        total += structure.total_content
        for clark, stats in structure.paths.items():
            entry = merged.setdefault(clark, [0, 0, 0])
            entry[0] = max(entry[0], stats.max_siblings)
            entry[1] += stats.content
            entry[2] += stats.fields
    candidates = [
        (len(clark), -content, clark)
        for clark, (max_siblings, content, _fields) in merged.items()
        if len(clark) > 1 and max_siblings >= 2 and total and content / total >= RECORD_SHARE
    ]
    if candidates:
        return min(candidates)[2]
    # A set of one: the root holds nothing but elements of one kind, with fields of their own.
    roots = {s.root for s in structures}
    if len(roots) == 1:
        root = roots.pop()
        kinds = {tag for s in structures for tag in s.paths[root].children}
        root_fields = sum(s.paths[root].fields for s in structures)
        only = (*root, next(iter(kinds))) if len(kinds) == 1 else None
        if only and merged.get(only, [0, 0, 0])[2] and root_fields == sum(
                s.paths[only].count for s in structures if only in s.paths):
            return only
    return None


def record_instances(structure: DocumentStructure, record: ClarkPath) -> list[ClarkPath]:
    """The element paths of ``structure`` that ``record`` stands for (several for ``*`` and ``//``)."""
    if ANY_DEPTH in record:
        prefix, tag = record[: record.index(ANY_DEPTH)], record[-1]
        return [c for c in structure.paths if len(c) > len(prefix) and c[: len(prefix)] == prefix and c[-1] == tag]
    if record[-1] == ANY_ELEMENT:
        parent = record[:-1]
        return [c for c in structure.paths if len(c) == len(record) and c[:-1] == parent]
    return [record] if record in structure.paths else []


def record_display(structure: DocumentStructure, record: ClarkPath) -> str:
    """``record`` as written in ``structure`` (``/kml//Placemark``, ``/dblp/*``)."""
    if ANY_DEPTH in record:
        prefix = record[: record.index(ANY_DEPTH)]
        instance = record_instances(structure, record)[0]
        return structure.paths[prefix].display + "//" + structure.paths[instance].display.rsplit("/", 1)[-1]
    if record[-1] == ANY_ELEMENT:
        return structure.paths[record[:-1]].display + "/*"
    return structure.paths[record].display


def record_path_problem(text: str) -> str | None:
    """Why ``text`` cannot be a record path, or None: steps of names, the last of which may be
    ``*`` (``/dblp/*``) or follow a ``//`` (``/kml//Placemark``)."""
    wanted = "/" + text.strip().strip("/")
    above, deep, last = wanted.partition("//")
    steps = above.split("/")[1:] + ([last] if deep else [])
    wildcards = [n for n, step in enumerate(steps) if "*" in step]
    if "" in steps or "/" in last or wildcards not in ([], [len(steps) - 1]) \
            or (wildcards and (deep or steps[-1] != "*")):
        return (f"record path {text.strip()}: a record path is a path of element names whose last step "
                "may be * (/dblp/*) or follow // (/kml//Placemark)")
    return None


def resolve_record_path(text: str, structure: DocumentStructure) -> ClarkPath | None:
    """A record path typed by a person (``/doi_batch/body/journal/journal_article``, prefixes as the
    document writes them, or local names only) as the document's element path, if it has it.
    Raises XmlDocumentError for a path that ``record_path_problem`` refuses."""
    problem = record_path_problem(text)
    if problem:
        raise XmlDocumentError(problem)
    wanted = "/" + text.strip().strip("/")
    if wanted.endswith("/*"):
        parent = resolve_record_path(wanted[:-2], structure)
        return (*parent, ANY_ELEMENT) if parent and len(structure.paths[parent].children) else None
    if "//" in wanted:
        above, tag = wanted.rsplit("//", 1)
        prefix = resolve_record_path(above, structure)
        if prefix is None or "/" in tag:
            return None
        for clark in structure.paths:
            if len(clark) > len(prefix) and clark[: len(prefix)] == prefix and _same_name(
                    structure.paths[clark].display.rsplit("/", 1)[-1], clark[-1], tag):
                return (*prefix, ANY_DEPTH, clark[-1])
        return None
    for clark, stats in structure.paths.items():
        if stats.display == wanted:
            return clark
    wanted_local = [part.split(":")[-1] for part in wanted.strip("/").split("/")]
    for clark in structure.paths:
        if [etree.QName(tag).localname for tag in clark] == wanted_local:
            return clark
    return None


def _same_name(display: str, clark: str, typed: str) -> bool:
    return display == typed or etree.QName(clark).localname == typed.split(":")[-1]


def repeating_paths(structures: list[DocumentStructure], record: ClarkPath) -> dict[ClarkPath, str]:
    """Paths below ``record`` (tags below the record element) that repeat under one parent (the
    child tables of relational mode), with their display relative to the record."""
    found: dict[ClarkPath, str] = {}
    for structure in structures:
        for instance in record_instances(structure, record):
            cut = len(structure.paths[instance].display) + 1
            for clark, stats in structure.paths.items():
                if len(clark) > len(instance) and clark[: len(instance)] == instance and stats.max_siblings >= 2:
                    found.setdefault(clark[len(instance):], stats.display[cut:])
    return found


def wide_columns_estimate(structures: list[DocumentStructure], record: ClarkPath | None) -> int:
    """About how many columns a wide row of ``record`` has: the fields below it, with repeats at
    their most under one parent (an upper bound: each repeat counted at every level)."""
    most = 0
    for structure in structures:
        instances = record_instances(structure, record) if record else [structure.root]
        for instance in instances:
            columns = _columns_below(structure.paths[instance])
            most = max(most, columns)
    return most


def _columns_below(stats: PathStats) -> int:
    if not stats.children:
        return 1
    columns = 0
    for child in stats.children.values():
        columns += max(child.max_siblings, 1) * _columns_below(child)
    return columns
