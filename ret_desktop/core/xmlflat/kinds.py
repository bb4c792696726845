"""Kinds of document whose record their standard defines, known by root element and namespace.

Content shares cannot tell an invoice line from the invoice or a track point from the track: for
these kinds, the record is named here. The first record element a document has wins; a kind with
no records listed (a drawing, a property list, a build file) is one record per document. A kind's
``works`` are records only when the content rule would pick something inside one of them (the
citations of a single Crossref article): the article is the row, its citations numbered columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lxml import etree

from ret_desktop.core.xmlflat.names import ANY_DEPTH, ANY_ELEMENT, ClarkPath

if TYPE_CHECKING:
    from ret_desktop.core.xmlflat.detect import DocumentStructure


@dataclass(frozen=True)
class Kind:
    name: str
    namespace: str | None  # the root's namespace starts with this; None: no namespace
    root: str | None = None  # the root's local name; None: any
    records: tuple[str, ...] = ()  # local names, in order of preference; "*": every child of the root
    anywhere: bool = False  # records at every depth (placemarks in folders in folders)
    works: tuple[str, ...] = ()
    bound: str | None = None  # a namespace the root must bind (Android layouts)
    child: str | None = None  # a child the root must have (an Ant build's <target>)


DOCUMENT = ()
KINDS = (
    Kind("UBL invoice", "urn:oasis:names:specification:ubl:schema:xsd:Invoice-", "Invoice", ("InvoiceLine",)),
    Kind("UBL credit note", "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-", "CreditNote",
         ("CreditNoteLine",)),
    Kind("ISO 20022 credit transfer", "urn:iso:std:iso:20022:tech:xsd:pain.001", None, ("CdtTrfTxInf",)),
    Kind("ISO 20022 direct debit", "urn:iso:std:iso:20022:tech:xsd:pain.008", None, ("DrctDbtTxInf",)),
    Kind("ISO 20022 account report", "urn:iso:std:iso:20022:tech:xsd:camt.05", None, ("TxDtls", "Ntry")),
    Kind("GPX", "http://www.topografix.com/GPX/", "gpx", ("trkpt", "rtept", "wpt")),
    Kind("KML", "http://www.opengis.net/kml/", None, ("Placemark",), anywhere=True),
    Kind("KML", "http://earth.google.com/kml/", None, ("Placemark",), anywhere=True),
    Kind("SpreadsheetML 2003", "urn:schemas-microsoft-com:office:spreadsheet", "Workbook", ("Row",)),
    Kind("OpenDocument", "urn:oasis:names:tc:opendocument:xmlns:office:", None, ("table-row",)),
    Kind("Atom", "http://www.w3.org/2005/Atom", "feed", ("entry",)),
    Kind("RSS", None, "rss", ("item",)),
    Kind("RSS 1.0", "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "RDF", ("item",)),
    Kind("OAI-PMH", "http://www.openarchives.org/OAI/2.0/", "OAI-PMH",
         ("record", "header", "set", "metadataFormat")),
    Kind("MARCXML", "http://www.loc.gov/MARC21/slim", None, ("record",)),
    Kind("PubMed", None, "PubmedArticleSet", ("PubmedArticle", "PubmedBookArticle")),
    Kind("DBLP", None, "dblp", (ANY_ELEMENT,)),
    Kind("Crossref", "http://www.crossref.org/schema/", "doi_batch",
         works=("journal_article", "conference_paper", "content_item", "dissertation", "posted_content")),
    Kind("SVG drawing", "http://www.w3.org/2000/svg", "svg", DOCUMENT),
    Kind("property list", None, "plist", DOCUMENT),
    Kind("Maven build", "http://maven.apache.org/POM/", "project", DOCUMENT),
    Kind("Ant build", None, "project", DOCUMENT, child="target"),
    Kind("Android layout", None, None, DOCUMENT, bound="http://schemas.android.com/apk/res/android"),
    Kind("XAML layout", "http://schemas.microsoft.com/winfx/2006/xaml/presentation", None, DOCUMENT),
)


def kind_of(structure: DocumentStructure) -> Kind | None:
    qname = etree.QName(structure.root[0])
    for kind in KINDS:
        if kind.root is not None and qname.localname != kind.root:
            continue
        if kind.namespace is None:
            if qname.namespace and kind.bound is None:
                continue
        elif not (qname.namespace or "").startswith(kind.namespace):
            continue
        if kind.bound is not None and kind.bound not in structure.namespaces:
            continue
        if kind.child is not None and not any(
                etree.QName(tag).localname == kind.child for tag in structure.paths[structure.root].children):
            continue
        return kind
    return None


def known_record(structures: list[DocumentStructure], generic: ClarkPath | None) -> ClarkPath | None | bool:
    """The record of a group's documents by their kind; False when the kind does not decide."""
    kinds = {kind_of(s) for s in structures}
    if len(kinds) != 1:
        return False
    kind = kinds.pop()
    if kind is None:
        return False
    if not kind.records and not kind.works:
        return None
    if kind.records == (ANY_ELEMENT,):
        roots = {s.root for s in structures}
        return (*roots.pop(), ANY_ELEMENT) if len(roots) == 1 else False
    for local in kind.records:
        found = _paths_named(structures, local)
        if found:
            if kind.anywhere:
                shallowest = min(found, key=len)
                return (*shallowest[:1], ANY_DEPTH, shallowest[-1])
            return min(found, key=lambda clark: (len(clark), found.index(clark)))
    if generic is not None:
        for local in kind.works:
            for work in _paths_named(structures, local):
                if len(generic) > len(work) and generic[: len(work)] == work:
                    return work
    return False


def _paths_named(structures: list[DocumentStructure], local: str) -> list[ClarkPath]:
    """The element paths below the root whose local name is ``local``, in order of first sight."""
    found: dict[ClarkPath, None] = {}
    for structure in structures:
        for clark in structure.paths:
            if len(clark) > 1 and clark[-1].rpartition("}")[2] == local:
                found.setdefault(clark)
    return list(found)
