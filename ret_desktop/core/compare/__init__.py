"""Compare two batches: which tables, documents, rows and cells changed (see ``engine``)."""

from ret_desktop.core.compare.engine import (
    CompareOptions,
    CompareSummary,
    DocumentDiff,
    TableDiff,
    compare,
    pair_tables,
    propose_keys,
    read_summary,
)
from ret_desktop.core.compare.reports import REPORT_FORMATS, DiffReader, write_reports
from ret_desktop.core.compare.sides import CompareCancelled, CompareError, Side

__all__ = ["REPORT_FORMATS", "CompareCancelled", "CompareError", "CompareOptions", "CompareSummary", "DiffReader",
           "DocumentDiff", "Side", "TableDiff", "compare", "pair_tables", "propose_keys", "read_summary", "write_reports"]
