"""The hardened parser settings, parse errors, and names as the document writes them."""

from __future__ import annotations

import re
from pathlib import Path
from html.entities import html5

from lxml import etree

XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace"

# Element paths as tuples of Clark names from the root. A record path may end in ANY_ELEMENT (every
# child element there: ``/dblp/*``) or in ANY_DEPTH, tag (that element at any depth: ``/kml//Placemark``).
ClarkPath = tuple[str, ...]
ANY_ELEMENT = "*"
ANY_DEPTH = ""

# The columns that say where a row comes from: the app's alone, never an element's name.
FILE_COLUMN = "_file"
RECORD_COLUMN = "_record"
ITEM_COLUMN = "_item"
PROVENANCE_COLUMNS = frozenset({FILE_COLUMN, RECORD_COLUMN, ITEM_COLUMN})

# No entity resolution, no network, no DTD loading, no huge trees (DESIGN §6).
PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class XmlDocumentError(Exception):
    """A document that cannot be converted, with where and why."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}: " if self.line else ""
        return where + self.message

    @classmethod
    def from_syntax_error(cls, error: etree.XMLSyntaxError) -> XmlDocumentError:
        line, column = error.position if error.position else (error.lineno, None)
        message = re.sub(r",? line \d+, column \d+$", "", error.msg or str(error)).strip()
        stopped = None
        if not line:
            # A stream parser may end with a generic "no element found" at (0, 0); the error that
            # stopped it (an undeclared entity) is the last one of its log.
            stopped = error.error_log.last_error
        elif error.code == etree.ErrorTypes.ERR_DOCUMENT_EMPTY:
            # Fed on after a fatal error, it may end with "Start tag expected" at 1:1: the first
            # fatal error of its log (emptied by check_prolog, which every parse begins with) is the cause.
            stopped = next((entry for entry in error.error_log if entry.level == etree.ErrorLevels.FATAL
                            and entry.type != etree.ErrorTypes.ERR_DOCUMENT_EMPTY), None)
        if stopped is not None and stopped.line:
            message = stopped.message.strip()
            if stopped.type_name == "ERR_UNDECLARED_ENTITY":
                message += " (a document without a DOCTYPE may use only &amp; &lt; &gt; &quot; &apos;)"
            return cls(message, stopped.line, stopped.column)
        return cls(message, line, column)


def refuse_entity_declarations(element: etree._Element) -> None:
    """Documents that declare entities are refused: an entity is never resolved, and an unexpanded
    one would silently lose text. Checked at the root's start, before any content is read."""
    dtd = element.getroottree().docinfo.internalDTD
    if dtd is None:
        return
    names = [entity.name for entity in dtd.iterentities()]
    if names:
        listed = ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")
        raise XmlDocumentError(f"declares entities in its DTD ({listed}); refused for safety")


def check_prolog(path: Path) -> tuple[bool, str | None]:
    """Refuse a document that declares entities, before reading any of its content. Returns whether
    undeclared named references are to be rewritten (see ``entities``: the document has a DOCTYPE),
    and the document's encoding as the parser found it."""
    etree.clear_error_log()  # this thread's log keeps earlier documents' errors: it tells of this one only
    parser = etree.XMLPullParser(events=("start",), **PARSER_OPTIONS)
    try:
        with open(path, "rb") as handle:
            first = b""
            while chunk := handle.read(64 * 1024):
                first = first or chunk
                parser.feed(chunk)
                for _event, element in parser.read_events():
                    refuse_entity_declarations(element)
                    docinfo = element.getroottree().docinfo
                    return bool(docinfo.doctype), docinfo.encoding or _sniff_encoding(first)
    except etree.XMLSyntaxError as error:
        raise XmlDocumentError.from_syntax_error(error) from None
    raise XmlDocumentError("no root element")


_DECLARED_ENCODING = re.compile(r"""^\ufeff?<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z][A-Za-z0-9._-]*)""")


def _sniff_encoding(first: bytes) -> str | None:
    """The encoding of a document from its first bytes (XML 1.0 appendix F) and its declaration,
    as the parser does not tell it before the end; None for UTF-8."""
    for start, family in ((b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le"),
                          (b"\0<", "utf-16-be"), (b"<\0", "utf-16-le")):
        if first.startswith(start):
            return family
    family = "cp037" if first.startswith(b"Lo\xa7\x94") else "latin-1"
    declared = _DECLARED_ENCODING.match(first[:1024].decode(family))
    return declared.group(1) if declared else None


# lxml's items() looks each value up by name: quadratic in the attributes of one element. Beyond
# this many, they are read in one pass through XPath instead (slower per attribute, but linear).
MANY_ATTRIBUTES = 256
_ALL_ATTRIBUTES = etree.XPath("@*")


def attribute_items(element: etree._Element) -> list[tuple[str, str]] | None:
    """The attributes of ``element`` as (Clark name, value), in document order; None if none."""
    keys = element.keys()
    if not keys:
        return None
    if len(keys) < MANY_ATTRIBUTES:
        return element.items()
    return [(value.attrname, str(value)) for value in _ALL_ATTRIBUTES(element)]


def entity_text(entity: etree._Entity) -> str:
    """An entity reference left in the tree (one the rewriting of ``entities`` did not reach) as its
    characters, or as written when it is not a standard one."""
    return html5.get(f"{entity.name};", entity.text)


class Names:
    """Display names of elements and attributes with the prefixes the document uses; cached.

    One name per element (namespace + local name): the first prefix seen names it. Where that name
    is already another element's (the prefix bound to two namespaces, or ``x`` beside
    ``x xmlns="urn:q"``), the later one is numbered: ``a:x~2``. Attributes likewise. The names of
    the provenance columns are taken from the start: an element ``_file`` is ``_file~2``."""

    def __init__(self) -> None:
        self._elements: dict[str, str] = {}
        self._attributes: dict[str, str] = {}
        self._taken: set[str] = set(PROVENANCE_COLUMNS)
        self._attributes_taken: set[str] = set()

    def element(self, element: etree._Element) -> str:
        name = self._elements.get(element.tag)
        if name is None:
            local = etree.QName(element).localname
            name = _unique(f"{element.prefix}:{local}" if element.prefix else local, self._taken)
            self._elements[element.tag] = name
        return name

    def attribute(self, element: etree._Element, key: str) -> str:
        name = self._attributes.get(key)
        if name is None:
            if key[0] != "{":
                name = key
            else:
                uri, local = key[1:].split("}", 1)
                prefix = "xml" if uri == XML_NAMESPACE else next(
                    (p for p, u in sorted(element.nsmap.items(), key=lambda item: item[0] or "") if u == uri and p),
                    None,
                )
                name = f"{prefix}:{local}" if prefix else local
            name = self._attributes[key] = _unique(name, self._attributes_taken)
        return name


def _unique(name: str, taken: set[str]) -> str:
    candidate = name
    number = 1
    while candidate in taken:
        number += 1
        candidate = f"{name}~{number}"
    taken.add(candidate)
    return candidate
