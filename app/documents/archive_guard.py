"""Checks on ZIP-based files (docx/xlsx/pptx) before any parser touches them.

Reads only the central directory plus the first bytes of each XML part, so a zip bomb is refused in
milliseconds. Limits (settings ZIP_MAX_ENTRIES, ZIP_MAX_UNCOMPRESSED_MB, ZIP_MAX_RATIO):

- entry count;
- total declared uncompressed size (zipfile never inflates an entry beyond its declared size: it
  stops at ``file_size`` and then checks the CRC, so declared sizes bound the real work);
- compression ratio per entry, for entries over `RATIO_GRACE_BYTES` (Apache POI's ZipSecureFile
  uses the same rule: minimum inflate ratio 0.01, i.e. at most 100×, with a grace size for small
  entries);
- XML parts that declare a DOCTYPE or entities: OOXML parts never have a DTD (the Open Packaging
  Conventions, ECMA-376 Part 2 "XML usage", do not allow DTD declarations in parts), so their
  presence means an entity-expansion or external-entity attack and the file is refused whatever
  the parser would do with it.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from app.errors import CorruptFile, FileTooLarge, UnsafeFile

RATIO_GRACE_BYTES = 100 * 1024
XML_HEAD_BYTES = 64 * 1024
_DTD_MARKERS = tuple(m.encode(enc) for m in ("<!DOCTYPE", "<!ENTITY")
                     for enc in ("utf-8", "utf-16-le", "utf-16-be"))


def over_limit_text(size_bytes: int, limit_bytes: int) -> str:
    """'1,100 MB; the limit is 1,024 MB' in the unit of the ZIP_MAX_UNCOMPRESSED_MB setting
    (MB = 1024² bytes); in bytes when both would round to the same number of MB."""
    mib = 1024 * 1024
    if round(size_bytes / mib) != round(limit_bytes / mib):
        return f"{size_bytes / mib:,.0f} MB; the limit is {limit_bytes / mib:,.0f} MB"
    return f"{size_bytes:,} bytes; the limit is {limit_bytes:,} bytes ({limit_bytes / mib:,.0f} MB)"


@dataclass(frozen=True)
class ZipLimits:
    """Limits for `check_zip`: entry count, total uncompressed bytes, per-entry ratio."""

    max_entries: int = 10_000
    max_uncompressed_bytes: int = 1_024 * 1024 * 1024
    max_ratio: float = 100.0

    @classmethod
    def from_settings(cls, s) -> "ZipLimits":
        return cls(s.ZIP_MAX_ENTRIES, s.ZIP_MAX_UNCOMPRESSED_MB * 1024 * 1024, float(s.ZIP_MAX_RATIO))


def check_zip(path: Path, limits: ZipLimits, label: str = "file") -> dict[str, int]:
    """Refuse a hostile or broken ZIP package before parsing.

    Returns ``{'entries', 'uncompressed_bytes', 'compressed_bytes'}``.

    Raises:
        CorruptFile: not a readable ZIP (truncated, no central directory).
        FileTooLarge: too many entries, too much uncompressed data, or an entry whose compression
            ratio is over the limit (a zip bomb).
        UnsafeFile: an XML part declares a DOCTYPE or entities.
    """
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CorruptFile(f"The {label} is damaged: its ZIP directory is missing or truncated ({exc}).") from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_entries:
            raise FileTooLarge(f"The {label} has {len(infos):,} parts; the limit is {limits.max_entries:,} "
                               "(ZIP_MAX_ENTRIES). It looks like a zip bomb.")
        total = sum(i.file_size for i in infos)
        if total > limits.max_uncompressed_bytes:
            raise FileTooLarge(f"The {label} unpacks to {over_limit_text(total, limits.max_uncompressed_bytes)} "
                               "(ZIP_MAX_UNCOMPRESSED_MB).")
        for info in infos:
            if info.filename.lower().endswith((".xml", ".rels", ".vml")) and not info.is_dir():
                _check_xml_head(zf, info, label)
        for info in infos:
            if info.file_size > RATIO_GRACE_BYTES:
                ratio = info.file_size / max(info.compress_size, 1)
                if ratio > limits.max_ratio:
                    raise FileTooLarge(f"The {label}'s part {info.filename!r} expands {ratio:,.0f}× "
                                       f"(limit {limits.max_ratio:,.0f}×, ZIP_MAX_RATIO): a zip bomb.")
    return {"entries": len(infos), "uncompressed_bytes": total,
            "compressed_bytes": sum(i.compress_size for i in infos)}


def _check_xml_head(zf: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> None:
    try:
        with zf.open(info) as fh:
            head = fh.read(XML_HEAD_BYTES)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise CorruptFile(f"The {label}'s part {info.filename!r} cannot be read ({exc}).") from exc
    if any(marker in head for marker in _DTD_MARKERS):
        raise UnsafeFile(f"The {label}'s part {info.filename!r} declares a DOCTYPE/entities (an XML "
                         "entity-expansion or external-entity attack); refused.")
