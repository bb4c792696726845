"""RET Desktop: offline XML-to-table conversion, review and export."""

__version__ = "0.1.0"
APP_NAME = "RET Desktop"
