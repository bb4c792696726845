"""Words for counts in messages: ``counted(1, "entry", "entries")`` is "1 entry"."""

from __future__ import annotations


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """``n`` with its noun, singular for exactly one (``plural`` defaults to ``singular + "s"``);
    thousands are grouped: "12,000 rows"."""
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"
