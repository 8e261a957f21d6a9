"""Many output files of one job as one ZIP download, and download names taken from the source file.

A job's outputs are stored under generated names ("text.txt", "Sheet1.csv"); the operator downloads
them as ``<source stem>-<output name>`` ("report-text.txt"), and all of a job's outputs at once as
``<source stem>-outputs.zip``. The archive is built when the button is clicked, from the files under
DATA_DIR (or the file store's objects), skipping those already cleaned up.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path, PurePosixPath

from app.files import filestore, storage
from config.settings import get_settings


def download_name(source_name: str, output_ref: str) -> str:
    """'<source stem>-<output file name>' reduced to safe characters (`storage.display_name`);
    the output's own name when there is no source name."""
    output = PurePosixPath(output_ref).name
    stem = storage.display_name(Path(source_name).stem, 80).strip("_ ") if source_name else ""
    return storage.display_name(f"{stem}-{output}" if stem and stem != "file" else output)


def zip_bytes(refs: list[str], source_name: str) -> bytes:
    """A ZIP (deflated) of the output files `refs` (paths under DATA_DIR or file-store URLs), each
    under its `download_name`; files that are gone or lie outside DATA_DIR are left out."""
    buf, seen = io.BytesIO(), set()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for ref in refs:
            name = download_name(source_name, ref)
            if name in seen:
                continue
            data = _read(ref)
            if data is not None:
                seen.add(name)
                zf.writestr(name, data)
    return buf.getvalue()


def _read(ref: str) -> bytes | None:
    try:
        if filestore.is_url(ref):
            store = filestore.current()
            if not store.owns(ref) or not store.exists(ref):
                return None
            with store.open(ref) as body:
                return body.read()
        p = storage.confine(get_settings().DATA_DIR, ref)
        return p.read_bytes() if p.is_file() else None
    except Exception:  # noqa: BLE001 - an unreadable output is left out of the archive, never raised
        return None
