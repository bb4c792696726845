"""Compare two batches: which tables, documents, rows and cells changed (see ``engine``)."""

from ret_desktop.core.compare.engine import (
    CompareOptions,
    CompareSummary,
    DocumentDiff,
    TableDiff,
    compare,
    read_summary,
)
from ret_desktop.core.compare.sides import CompareCancelled, CompareError, Side

__all__ = ["CompareCancelled", "CompareError", "CompareOptions", "CompareSummary", "DocumentDiff", "Side",
           "TableDiff", "compare", "read_summary"]
