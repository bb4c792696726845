"""Named character references a document uses without declaring them (DBLP's ``&uuml;``, from an
external DTD that is never loaded): rewritten in the byte stream, before the parser sees them, into
the characters of the standard sets (HTML5 / XHTML / ISO 8879, as ``html.entities`` lists them).

Done on the bytes rather than on the tree because libxml2 silently drops an undeclared reference in
an attribute value. A reference whose name is outside the standard sets (any XML name: long,
non-ASCII, with a colon) becomes the literal text ``&name;`` and is reported. Comments, processing
instructions and CDATA sections are passed through untouched. Only for documents with a DOCTYPE
(without one, an undeclared reference is a well-formedness error and reported as such). A document
in an encoding where ASCII bytes are not ASCII characters (UTF-16, UTF-32, EBCDIC) is transcoded to
UTF-8 first; the parser is then told so (``PARSER_ENCODING``).
"""

from __future__ import annotations

import codecs
import re
from html.entities import html5

from ret_desktop.core.xmlflat.names import XmlDocumentError

# An XML Name on bytes: ASCII name characters, a colon, and any byte of a non-ASCII character.
_NAME_CHARACTERS = rb"A-Za-z0-9._:\x80-\xff-"
_REFERENCE = re.compile(rb"&([A-Za-z_:\x80-\xff][" + _NAME_CHARACTERS + rb"]*);")
_OPEN_REFERENCE = re.compile(rb"&[" + _NAME_CHARACTERS + rb"]*")
_PREDEFINED = {b"amp", b"lt", b"gt", b"quot", b"apos"}
# Where rewriting stops, and the marker that ends each of those sections.
_UNTOUCHED_START = re.compile(rb"<(?:!--|\?|!\[CDATA\[)")
_UNTOUCHED_END = {b"<!--": b"-->", b"<?": b"?>", b"<![CDATA[": b"]]>"}
_LONGEST_MARKER = len(b"<![CDATA[")
# libxml2 refuses names longer than 50,000 characters: an '&' followed by more name bytes than a
# name of that length can have is held back no longer (the parser then reports the document).
_LONGEST_NAME_BYTES = 4 * 50_000 + 2

PARSER_ENCODING = "utf-8"  # of the stream an EntityFilter gives, when it transcodes


def ascii_compatible(encoding: str | None) -> bool:
    if not encoding:
        return True
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False
    return not name.startswith(("utf-16", "utf-32", "cp037", "cp500", "cp1140"))


def _python_codec(declared: str, first_bytes: bytes) -> str:
    """The codec for a document the parser found to be in ``declared``: UTF-16 and UTF-32 with
    their byte order from the byte-order mark or the first character (XML 1.0 appendix F)."""
    name = codecs.lookup(declared).name
    if name.startswith(("utf-16", "utf-32")):
        if first_bytes.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
            return "utf-32"
        if first_bytes.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        for start, codec in ((b"\0\0\0<", "utf-32-be"), (b"<\0\0\0", "utf-32-le"),
                             (b"\0<", "utf-16-be"), (b"<\0", "utf-16-le")):
            if first_bytes.startswith(start):
                return codec
    return name


class _Utf8Transcoder:
    """A binary reader giving the document of ``handle`` (in ``encoding``) as UTF-8."""

    def __init__(self, handle, encoding: str) -> None:
        self._handle = handle
        self._first = True
        self._encoding = encoding
        self._decoder = None

    def read(self, size: int = -1) -> bytes:
        while True:
            data = self._handle.read(size if size and size > 0 else 64 * 1024)
            if self._decoder is None:
                self._decoder = codecs.getincrementaldecoder(_python_codec(self._encoding, data))("strict")
            try:
                text = self._decoder.decode(data, final=not data)
            except UnicodeDecodeError as error:
                raise XmlDocumentError(f"not valid {self._encoding}: {error.reason}") from None
            if text or not data:
                return text.encode("utf-8")


class EntityFilter:
    """A binary reader over ``handle`` with undeclared named references rewritten; ``unknown``
    collects the names outside the standard sets, in order of first use. ``encoding`` is the
    document's (as the parser found it); ``transcodes`` says whether the stream is UTF-8 instead."""

    def __init__(self, handle, encoding: str | None = None) -> None:
        self.transcodes = not ascii_compatible(encoding)
        self._handle = _Utf8Transcoder(handle, encoding) if self.transcodes else handle
        self._name_encoding = "utf-8" if self.transcodes or not encoding else encoding
        self._pending = b""
        self._until: bytes | None = None  # the end marker of the untouched section we are in
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
        text = html5.get(name.decode("ascii") + ";") if name.isascii() else None
        if text is None:
            try:
                decoded = name.decode(self._name_encoding, "replace")
            except LookupError:
                decoded = name.decode("ascii", "replace")
            if decoded not in self.unknown:
                self.unknown.append(decoded)
            return b"&amp;" + name + b";"
        return b"".join(b"&#x%X;" % ord(character) for character in text)

    def _rewrite_end(self, buffer: bytes, position: int) -> int:
        """Where rewriting of ``buffer[position:]`` must stop for now when more data follows:
        before a reference or a section marker that the next chunk may complete."""
        end = len(buffer)
        ampersand = buffer.rfind(b"&", position)
        if ampersand >= 0 and end - ampersand <= _LONGEST_NAME_BYTES \
                and _OPEN_REFERENCE.fullmatch(buffer, ampersand):
            end = ampersand
        less_than = buffer.rfind(b"<", max(position, end - _LONGEST_MARKER + 1), end)
        return less_than if less_than >= 0 else end

    def _process(self, buffer: bytes, final: bool) -> bytes:
        out = []
        position = 0
        size = len(buffer)
        while position < size:
            if self._until is not None:
                end = buffer.find(self._until, position)
                if end < 0:  # keep back what may be the start of the end marker
                    keep = size if final else max(position, size - len(self._until) + 1)
                    out.append(buffer[position:keep])
                    position = keep
                    break
                end += len(self._until)
                out.append(buffer[position:end])
                position = end
                self._until = None
                continue
            marker = _UNTOUCHED_START.search(buffer, position)
            if marker is not None:
                out.append(_REFERENCE.sub(self._replace, buffer[position:marker.start()]))
                out.append(marker.group(0))
                position = marker.end()
                self._until = _UNTOUCHED_END[marker.group(0)]
                continue
            end = size if final else self._rewrite_end(buffer, position)
            out.append(_REFERENCE.sub(self._replace, buffer[position:end]))
            position = end
            break
        self._pending = buffer[position:]
        return b"".join(out)
