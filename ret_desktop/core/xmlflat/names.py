"""The hardened parser settings, parse errors, and names as the document writes them."""

from __future__ import annotations

import re

from lxml import etree

XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace"

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


class Names:
    """Display names of elements and attributes with the prefixes the document uses; cached."""

    def __init__(self) -> None:
        self._elements: dict[tuple[str, str | None], str] = {}
        self._attributes: dict[str, str] = {}

    def element(self, element: etree._Element) -> str:
        key = (element.tag, element.prefix)
        name = self._elements.get(key)
        if name is None:
            local = etree.QName(element).localname
            name = f"{element.prefix}:{local}" if element.prefix else local
            self._elements[key] = name
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
            self._attributes[key] = name
        return name
