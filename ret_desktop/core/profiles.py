"""Conversion profiles: the record path and mode a person picked, remembered per kind of document
(root element + namespace) so the next batch of the same export converts the same way.

A profile is a JSON file::

    {"format": "ret-desktop conversion profile", "version": 1,
     "kinds": [{"root": "Invoice", "namespace": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
                "record_path": "/Invoice/cac:InvoiceLine", "mode": "relational"}]}

``record_path`` is written as the documents write it; the root's own path (``/Invoice``) makes
each document one record, and ``null`` (or no ``record_path``) leaves the record to detection.
``mode`` is ``wide`` or ``relational`` (absent: the run's mode).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from ret_desktop.core.fsutil import atomic_write_json
from ret_desktop.core.xmlflat.detect import record_path_problem

log = logging.getLogger(__name__)

FORMAT = "ret-desktop conversion profile"
VERSION = 1
MODES = ("wide", "relational")


class ProfileError(Exception):
    """A profile file that cannot be used; the message says why, in one line."""


@dataclass(frozen=True)
class ConversionChoice:
    record_path: str | None  # None: detected; the root's path: each document is one record
    mode: str | None = None  # None: the run's mode


@dataclass
class ConversionProfile:
    choices: dict[str, ConversionChoice] = field(default_factory=dict)  # by kind: the root's Clark name

    def choice_for(self, kind: str | None) -> ConversionChoice | None:
        return self.choices.get(kind) if kind else None

    def remember(self, kind: str, record_path: str | None, mode: str | None = None) -> None:
        if mode is not None and mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        self.choices[kind] = ConversionChoice(record_path, mode)

    def save(self, path: Path) -> None:
        kinds = []
        for kind, choice in sorted(self.choices.items()):
            qname = etree.QName(kind)
            entry = {"root": qname.localname, "namespace": qname.namespace or "", "record_path": choice.record_path}
            if choice.mode:
                entry["mode"] = choice.mode
            kinds.append(entry)
        atomic_write_json(Path(path), {"format": FORMAT, "version": VERSION, "kinds": kinds})

    @classmethod
    def load(cls, path: Path) -> ConversionProfile:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as error:
            raise ProfileError(f"cannot read the profile {path}: {error.strerror or error}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ProfileError(f"the profile {path} is not JSON: {error}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ProfileError(f"{path} is not a conversion profile (no \"format\": \"{FORMAT}\")")
        if data.get("version") != VERSION:
            raise ProfileError(f"the profile {path} has version {data.get('version')!r}; this version reads {VERSION}")
        profile = cls()
        kinds = data.get("kinds")
        if not isinstance(kinds, list):
            raise ProfileError(f"the profile {path} has no \"kinds\" list")
        for number, entry in enumerate(kinds, 1):
            if not isinstance(entry, dict) or not isinstance(entry.get("root"), str) or not entry["root"]:
                raise ProfileError(f"the profile {path}: kind {number} has no \"root\"")
            namespace = entry.get("namespace") or ""
            record_path = entry.get("record_path")
            mode = entry.get("mode")
            if not isinstance(namespace, str) or not (record_path is None or isinstance(record_path, str)):
                raise ProfileError(f"the profile {path}: kind {number} has a namespace or record_path that is not text")
            if record_path and (problem := record_path_problem(record_path)):
                raise ProfileError(f"the profile {path}: kind {number}: {problem}")
            if mode is not None and mode not in MODES:
                raise ProfileError(f"the profile {path}: kind {number} has mode {mode!r}; use wide or relational")
            profile.choices[kind_key(entry["root"], namespace)] = ConversionChoice(record_path, mode)
        return profile


def kind_key(root: str, namespace: str = "") -> str:
    """A kind of document as its root's Clark name: ``{urn:...Invoice-2}Invoice``, ``library``."""
    return f"{{{namespace}}}{root}" if namespace else root


def remembered_profile_path(config_dir: Path, user_name: str) -> Path:
    """Where the window keeps the choices ``user_name`` made (outside every session: they hold element
    names and record paths the person picked, never values or file names)."""
    digest = hashlib.sha256(user_name.casefold().encode("utf-8")).hexdigest()[:24]
    return Path(config_dir) / "profiles" / f"{digest}.json"


def load_remembered(path: Path) -> ConversionProfile:
    """The remembered profile at ``path``; an empty one where there is none yet or it cannot be used
    (said in the log: the person loses a proposal, nothing else)."""
    if not Path(path).exists():
        return ConversionProfile()
    try:
        return ConversionProfile.load(path)
    except ProfileError as error:
        log.warning("the remembered conversion choices cannot be used and start afresh: %s", error)
        return ConversionProfile()
