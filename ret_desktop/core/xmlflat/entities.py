"""Named character references a document uses without declaring them (DBLP's ``&uuml;``, from an
external DTD that is never loaded): rewritten in the byte stream, before the parser sees them, into
the characters of the standard sets (HTML5 / XHTML / ISO 8879, as ``html.entities`` lists them).

Done on the bytes rather than on the tree because libxml2 silently drops an undeclared reference in
an attribute value. A name outside the standard sets becomes the literal text ``&name;`` and is
reported. CDATA sections are passed through untouched. Only for documents with a DOCTYPE (without
one, an undeclared reference is a well-formedness error and reported as such) in an encoding where
ASCII bytes are ASCII characters.
"""

from __future__ import annotations

import codecs
import re
from html.entities import html5

DOCTYPE = b"<!DOCTYPE"
_REFERENCE = re.compile(rb"&([A-Za-z_][A-Za-z0-9._-]{0,63});")
_PREDEFINED = {b"amp", b"lt", b"gt", b"quot", b"apos"}
_CDATA_START = b"<![CDATA["
_CDATA_END = b"]]>"
_HOLD = 80  # bytes kept back between chunks: longer than any reference or marker
_STRAY_AMPERSAND = 256  # an '&' with no ';' this far after it is no reference: stop holding it back


def ascii_compatible(encoding: str | None) -> bool:
    if not encoding:
        return True
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False
    return not name.startswith(("utf-16", "utf-32", "cp037", "cp500", "cp1140"))


class EntityFilter:
    """A binary reader over ``handle`` with undeclared named references rewritten; ``unknown``
    collects the names outside the standard sets, in order of first use."""

    def __init__(self, handle) -> None:
        self._handle = handle
        self._pending = b""
        self._in_cdata = False
        self._eof = False
        self.unknown: list[str] = []

    def read(self, size: int = -1) -> bytes:
        while not self._eof:
            data = self._handle.read(size if size and size > 0 else 64 * 1024)
            if not data:
                self._eof = True
            out = self._process(self._pending + data, final=self._eof)
            if out:
                return out
        return b""

    def _replace(self, match: re.Match) -> bytes:
        name = match.group(1)
        if name in _PREDEFINED:
            return match.group(0)
        text = html5.get(name.decode("ascii") + ";")
        if text is None:
            decoded = name.decode("ascii")
            if decoded not in self.unknown:
                self.unknown.append(decoded)
            return b"&amp;" + name + b";"
        return b"".join(b"&#x%X;" % ord(character) for character in text)

    def _process(self, buffer: bytes, final: bool) -> bytes:
        limit = len(buffer) if final else max(0, len(buffer) - _HOLD)
        out = []
        position = 0
        while position < limit:
            if self._in_cdata:
                end = buffer.find(_CDATA_END, position)
                if end < 0:
                    out.append(buffer[position:limit])
                    position = limit
                    break
                out.append(buffer[position:end + 3])
                position = end + 3
                self._in_cdata = False
                continue
            start = buffer.find(_CDATA_START, position)
            if 0 <= start < limit:
                out.append(_REFERENCE.sub(self._replace, buffer[position:start]) + _CDATA_START)
                position = start + len(_CDATA_START)
                self._in_cdata = True
                continue
            end = limit
            if not final:  # never cut a reference in two
                ampersand = buffer.rfind(b"&", position, limit)
                if ampersand >= 0 and buffer.find(b";", ampersand, limit) < 0 \
                        and limit - ampersand < _STRAY_AMPERSAND:
                    end = ampersand
            out.append(_REFERENCE.sub(self._replace, buffer[position:end]))
            position = end
            break
        self._pending = buffer[position:]
        return b"".join(out)
