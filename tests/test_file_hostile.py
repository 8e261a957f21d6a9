"""Hostile and broken files: each gets a clear error quickly and the worker keeps working."""
from __future__ import annotations

import io
import struct
import time
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import Image

from app.files import filetypes
from app.documents.archive_guard import ZipLimits, check_zip
from app.errors import CorruptFile, FileTooLarge, UnsafeFile

pytestmark = pytest.mark.usefixtures("celery_worker")

BILLION_LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
                  b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
                  b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>\n')
XXE = b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'


def run(task, *args, timeout_s=60, **kwargs):
    result = task.apply_async(args=args, kwargs=kwargs)
    result.get(timeout=timeout_s, propagate=False)
    return result


def _rewrite(src: Path, dst: Path, part: str, prefix: bytes, replace=None) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == part:
                data = prefix + data.split(b"?>", 1)[1] if data.startswith(b"<?xml") else prefix + data
                if replace:
                    data = data.replace(*replace)
            zout.writestr(info.filename, data)
    return dst


def _zip_bomb(path: Path, main_part: str, size_bytes: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr(main_part, "<x/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * size_bytes)
    return path


def _word_still_works(stored, corpus):
    from app.tasks.file_tasks import process_word_document

    ok = run(process_word_document, stored(corpus / "docx" / "google-docs_no_docprops.docx"), ["count_stats"])
    assert ok.state == "SUCCESS" and ok.result["outputs"]["stats"]["words"] == 305


def test_zip_bomb_ratio_rejected_fast_through_worker(stored, corpus, tmp_path):
    from app.tasks.file_tasks import process_excel_file

    bomb = _zip_bomb(tmp_path / "bomb.xlsx", "xl/workbook.xml", 60 * 1024 * 1024)
    assert bomb.stat().st_size < 200_000 and filetypes.detect_path(bomb) == "xlsx"
    path = stored(bomb)
    t0 = time.perf_counter()
    with pytest.raises(FileTooLarge, match="zip bomb"):
        check_zip(Path(path), ZipLimits())
    assert time.perf_counter() - t0 < 0.5
    res = run(process_excel_file, path, ["analyze"])
    assert res.state == "FAILURE" and type(res.result).__name__ == "FileTooLarge"
    assert "ZIP_MAX_RATIO" in str(res.result)
    _word_still_works(stored, corpus)


def test_zip_entry_count_and_total_size_limits(tmp_path):
    many = tmp_path / "many.docx"
    with zipfile.ZipFile(many, "w") as z:
        z.writestr("word/document.xml", "<w/>")
        for i in range(60):
            z.writestr(f"word/media/p{i}.bin", b"x")
    t0 = time.perf_counter()
    with pytest.raises(FileTooLarge, match="ZIP_MAX_ENTRIES"):
        check_zip(many, ZipLimits(max_entries=50))
    with pytest.raises(FileTooLarge, match="ZIP_MAX_UNCOMPRESSED_MB"):
        check_zip(_zip_bomb(tmp_path / "b.xlsx", "xl/workbook.xml", 3_000_000),
                  ZipLimits(max_uncompressed_bytes=1_000_000))
    assert time.perf_counter() - t0 < 0.5


@pytest.mark.parametrize("prefix", [BILLION_LAUGHS, XXE], ids=["entity-expansion", "external-entity"])
def test_docx_with_doctype_refused(corpus, stored, tmp_path, prefix):
    from app.tasks.file_tasks import process_word_document

    bad = _rewrite(corpus / "docx" / "google-docs_no_docprops.docx", tmp_path / "x.docx", "word/document.xml",
                   prefix, replace=(b"<w:t>", b"<w:t>&lol3;" if prefix is BILLION_LAUGHS else b"<w:t>&xxe;"))
    res = run(process_word_document, stored(bad), ["extract_text"])
    assert res.state == "FAILURE" and type(res.result).__name__ == "UnsafeFile"
    assert "word/document.xml" in str(res.result)
    _word_still_works(stored, corpus)


def test_pptx_with_doctype_refused(corpus, stored, tmp_path):
    from app.tasks.file_tasks import process_powerpoint

    bad = _rewrite(corpus / "pptx" / "powerpoint365_bullets_speaker_notes.pptx", tmp_path / "x.pptx",
                   "ppt/slides/slide1.xml", XXE)
    res = run(process_powerpoint, stored(bad), ["extract_text"])
    assert res.state == "FAILURE" and "DOCTYPE" in str(res.result)


def test_xlsx_entity_expansion_refused_even_without_guard(corpus, tmp_path):
    """Belt and braces: openpyxl itself parses with defusedxml once intake hardened the process."""
    from app.documents import excel

    with pytest.raises((UnsafeFile, CorruptFile)):
        excel.process(corpus / "malformed" / "xml_entity_expansion.xlsx", ["analyze"], tmp_path)


def test_defuse_stdlib_applied():
    import xml.dom.minidom
    import xml.etree.ElementTree as ET

    from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden

    from app.documents import intake

    intake.harden_xml()
    with pytest.raises(EntitiesForbidden):
        ET.fromstring(BILLION_LAUGHS + b"<a>&lol3;</a>")
    with pytest.raises((EntitiesForbidden, ExternalReferenceForbidden, DTDForbidden)):
        xml.dom.minidom.parseString(XXE + b"<a>&xxe;</a>")
    assert ET.fromstring(b"<a>ok</a>").text == "ok"  # plain XML still parses


def _png_with_size(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr:ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


def test_image_decompression_bomb_refused(stored, corpus, tmp_path):
    from app.tasks.file_tasks import process_image

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_with_size(100_000, 100_000))
    t0 = time.perf_counter()
    res = run(process_image, stored(bomb), ["get_info", "create_thumbnail"])
    assert time.perf_counter() - t0 < 5
    assert res.state == "FAILURE" and type(res.result).__name__ == "FileTooLarge"
    assert "IMAGE_MAX_PIXELS" in str(res.result)
    _word_still_works(stored, corpus)


def test_truncated_image_reported(corpus, stored):
    from app.tasks.file_tasks import process_image

    res = run(process_image, stored(corpus / "malformed" / "truncated_progressive.jpg"), ["get_info"])
    assert res.state == "FAILURE" and "truncated" in str(res.result)
    assert res.result.__class__.__name__ == "CorruptFile"  # not an OSError: never retried


def _pdf(objs: list[bytes], prev_self: bool = False) -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for o in offsets:
        out += b"%010d 00000 n \n" % o
    prev = b" /Prev %d" % xref if prev_self else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, prev, xref)
    return bytes(out)


_CONTENT = b"BT /F1 24 Tf 72 720 Td (Hello hostile) Tj ET"
_OBJS = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
         b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
         b"/Resources << /Font << /F1 5 0 R >> >> >>",
         b"<< /Length %d >>\nstream\n" % len(_CONTENT) + _CONTENT + b"\nendstream",
         b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]


def _malformed_pdfs(corpus: Path) -> dict[str, bytes]:
    big = (corpus / "pdf" / "pdflatex_117_pages.pdf").read_bytes()
    huge_len = list(_OBJS)
    huge_len[3] = b"<< /Length 99999999999 >>\nstream\n" + _CONTENT + b"\nendstream"
    loop = list(_OBJS)
    loop[1] = b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>"
    return {"truncated": big[: len(big) // 2], "circular_xref": _pdf(_OBJS, prev_self=True),
            "huge_stream_length": _pdf(huge_len), "page_tree_loop": _pdf(loop),
            "header_and_eof_only": (corpus / "malformed" / "header_and_eof_only.pdf").read_bytes()}


@pytest.mark.parametrize("case", ["truncated", "circular_xref", "huge_stream_length", "page_tree_loop",
                                  "header_and_eof_only"])
def test_malformed_pdf_ends_quickly_and_readably(corpus, stored, tmp_path, case):
    from app.tasks.file_tasks import process_pdf

    f = tmp_path / f"{case}.pdf"
    f.write_bytes(_malformed_pdfs(corpus)[case])
    t0 = time.perf_counter()
    res = run(process_pdf, stored(f), ["extract_text", "get_metadata"], timeout_s=60)
    assert time.perf_counter() - t0 < 30
    if res.state == "FAILURE":
        assert type(res.result).__name__ == "CorruptFile" and "damaged" in str(res.result)
    else:  # pypdf recovered: what it returns must be the real text, nothing invented
        assert res.state == "SUCCESS"
        text = Path(res.result["outputs"]["text_file"]).read_text(encoding="utf-8")
        assert "Hello hostile" in text or "could not be read" in text
    if case in ("truncated", "page_tree_loop", "header_and_eof_only"):
        assert res.state == "FAILURE"
    _word_still_works(stored, corpus)


def test_pdf_parse_time_limit_kills_the_parser_not_the_worker(corpus, stored):
    from app.tasks.file_tasks import process_pdf
    from config.settings import get_settings

    s = get_settings()
    before = s.PDF_PARSE_TIMEOUT_S
    s.PDF_PARSE_TIMEOUT_S = 0.05  # the worker thread reads the same settings object
    try:
        t0 = time.perf_counter()
        res = run(process_pdf, stored(corpus / "pdf" / "pdflatex_117_pages.pdf"), ["extract_text"])
        assert time.perf_counter() - t0 < 10
    finally:
        s.PDF_PARSE_TIMEOUT_S = before
    assert res.state == "FAILURE" and "took longer than 0.05 s" in str(res.result)
    ok = run(process_pdf, stored(corpus / "pdf" / "google-docs_text_image.pdf"), ["get_metadata"])
    assert ok.state == "SUCCESS" and ok.result["outputs"]["metadata"]["title"] == "PDF Example Document"


@pytest.mark.parametrize("task_name, src", [
    ("process_excel_file", "pdf/google-docs_text_image.pdf"),
    ("process_pdf", "images/photoshop_cmyk.jpg"),
    ("process_image", "xlsx/excel2007_japanese_text.xlsx"),
    ("process_powerpoint", "docx/google-docs_no_docprops.docx"),
])
def test_type_from_content_not_extension(corpus, stored, task_name, src):
    import app.tasks.file_tasks as ft

    lying_name = {"process_excel_file": "a.xlsx", "process_pdf": "a.pdf", "process_image": "a.png",
                  "process_powerpoint": "a.pptx"}[task_name]
    res = run(getattr(ft, task_name), stored(corpus / src, lying_name))
    assert res.state == "FAILURE" and type(res.result).__name__ == "UnsupportedFile"
    assert "the content is a" in str(res.result)


def test_filetypes_detect_and_name_claims(corpus):
    assert filetypes.detect_path(corpus / "malformed" / "encrypted_password_tika.xlsx") == "encrypted_office"
    assert filetypes.detect_path(corpus / "pptx" / "libreoffice_impress_table.pptx") == "pptx"
    assert filetypes.detect_path(corpus / "images" / "rgba_transparent.png") == "png"
    assert filetypes.detect_path(corpus / "malformed" / "truncated_zip.docx") == "zip"
    assert filetypes.kind_from_name("Report.JPG") == "jpeg" and filetypes.kind_from_name("x") is None
