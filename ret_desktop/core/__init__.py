"""The GUI-free backend of RET Desktop. Nothing in this package may import Qt."""
