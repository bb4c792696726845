"""XML to flat tables: record detection and a streaming flattener (DESIGN §6).

Column names are XPath-like paths relative to the record (``titles/title``,
``publication_date/@media_type``, ``contributors/person_name[2]/surname``); fields outside the
records are carried onto every row under absolute paths (``/doi_batch/head/doi_batch_id``).
"""

from ret_desktop.core.xmlflat.detect import DocumentStructure, choose_record_path, scan_structure
from ret_desktop.core.xmlflat.flatten import FILE_COLUMN, RECORD_COLUMN, flatten_document
from ret_desktop.core.xmlflat.names import XmlDocumentError

__all__ = [
    "DocumentStructure",
    "FILE_COLUMN",
    "RECORD_COLUMN",
    "XmlDocumentError",
    "choose_record_path",
    "flatten_document",
    "scan_structure",
]
