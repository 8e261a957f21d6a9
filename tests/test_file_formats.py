"""Excel, PowerPoint, PDF and image tasks through a real worker, checked with independent readers."""
from __future__ import annotations

import csv
import datetime as dt
import json
import zipfile
from pathlib import Path

import openpyxl
import pptx
import pypdf
import pytest
from lxml import etree
from PIL import Image, ImageOps

pytestmark = pytest.mark.usefixtures("celery_worker")


def run(task, *args, timeout_s=60, **kwargs):
    result = task.apply_async(args=args, kwargs=kwargs)
    result.get(timeout=timeout_s, propagate=False)
    return result


def ok(res):
    assert res.state == "SUCCESS", f"{res.state}: {res.result!r}\n{res.traceback}"
    assert res.result["status"] == "completed"
    return res.result["outputs"]


# --- Excel -------------------------------------------------------------------------------------

def _expected_rows(path: Path, sheet: str) -> list[list]:
    wb = openpyxl.load_workbook(path, data_only=True)  # full (not read-only) load: independent
    rows = [[c for c in r] for r in wb[sheet].iter_rows(values_only=True)]
    while rows and all(v in (None, "") for v in rows[-1]):
        rows.pop()
    return rows


@pytest.mark.parametrize("name", ["xlsx/excel2007_12_sheets_merged_formulas.xlsx",
                                  "xlsx/mac-excel_1904_epoch_date_formats.xlsx",
                                  "xlsx/excel-online_rtl_arabic_hebrew.xlsx",
                                  "xlsx/excel-online_dates_merged_image.xlsx",
                                  "xlsx/excel2007_japanese_text.xlsx",
                                  "xlsx/libreoffice_dates_duration.xlsx"])
def test_excel_all_operations_on_corpus(corpus, stored, name):
    from app.tasks.file_tasks import process_excel_file

    path = corpus / name
    out = ok(run(process_excel_file, stored(path), ["analyze", "convert_to_csv", "calculate_totals"]))
    wb = openpyxl.load_workbook(path, data_only=True)
    assert [s["name"] for s in out["analysis"]["sheets"]] == wb.sheetnames
    assert len(out["csv_files"]) == len(wb.sheetnames)
    for sheet_name, csv_path in zip(wb.sheetnames, out["csv_files"]):
        with open(csv_path, newline="", encoding="utf-8") as fh:
            got = [row for row in csv.reader(fh)]
        expected = _expected_rows(path, sheet_name)
        assert len(got) == len(expected), sheet_name
        for g, e in zip(got, expected):
            e_vals = [v for v in e]
            while e_vals and e_vals[-1] in (None, ""):
                e_vals.pop()
            assert len(g) == len(e_vals)
            for gv, ev in zip(g, e_vals):
                if isinstance(ev, (dt.datetime, dt.date, dt.time)):
                    assert gv == ev.isoformat()
                elif isinstance(ev, (int, float)) and not isinstance(ev, bool):
                    assert float(gv) == pytest.approx(float(ev))
                elif isinstance(ev, str):
                    assert gv == ev
    # Totals agree with sums computed independently from the full workbook.
    for sheet in out["analysis"]["sheets"]:
        for col, total in out["totals"][sheet["name"]].items():
            idx = sheet["header"].index(col)
            rows = _expected_rows(path, sheet["name"])[(sheet["header_row"] or 0):]
            values = [r[idx] for r in rows if idx < len(r) and isinstance(r[idx], (int, float))
                      and not isinstance(r[idx], bool)]
            assert total == pytest.approx(sum(values))


def test_excel_1904_dates_and_formulas_use_cached_values(corpus, stored):
    from app.tasks.file_tasks import process_excel_file

    path = corpus / "xlsx" / "mac-excel_1904_epoch_date_formats.xlsx"
    out = ok(run(process_excel_file, stored(path), ["convert_to_csv"]))
    text = Path(out["csv_files"][1]).read_text(encoding="utf-8")
    assert "1952-10-11T14:35:27" in text  # 1904 epoch applied (would be 1956 with the 1900 epoch)
    assert "=" not in "".join(r[2] for r in csv.reader(text.splitlines()) if len(r) > 2)


def test_excel_duration_is_iso8601(corpus, stored):
    from app.tasks.file_tasks import process_excel_file

    out = ok(run(process_excel_file, stored(corpus / "xlsx" / "libreoffice_dates_duration.xlsx"), ["convert_to_csv"]))
    rows = list(csv.reader(Path(out["csv_files"][0]).read_text(encoding="utf-8").splitlines()))
    assert rows[0][0] == "2021-01-01T00:00:00"
    assert rows[2][0] == "P10DT15H10M10S"  # timedelta(days=10, seconds=54610)


def test_excel_generated_stats_match_pandas(stored, tmp_path):
    import pandas as pd

    from app.tasks.file_tasks import process_excel_file

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "amount", "label", "when"])
    for i in range(1, 3001):
        ws.append([i, (i * 7919) % 1000 / 10, f"row {i}" if i % 10 else None, dt.datetime(2024, 1, 1) + dt.timedelta(hours=i)])
    path = tmp_path / "gen.xlsx"
    wb.save(path)
    out = ok(run(process_excel_file, stored(path), ["analyze", "calculate_totals"]))
    sheet = out["analysis"]["sheets"][0]
    df = pd.read_excel(path)
    assert sheet["rows"] == len(df) == 3000
    assert sheet["column_types"] == {"id": "number", "amount": "number", "label": "text", "when": "date"}
    assert sheet["null_counts"]["label"] == int(df["label"].isna().sum()) == 300
    st = sheet["numeric_stats"]["amount"]
    assert st["mean"] == pytest.approx(df["amount"].mean())
    assert st["std"] == pytest.approx(df["amount"].std())
    assert (st["min"], st["max"]) == (df["amount"].min(), df["amount"].max())
    assert out["totals"]["Sheet"]["amount"] == pytest.approx(df["amount"].sum())


def test_excel_gnumeric_full_sheet_dimension_is_fast(corpus, stored):
    import time

    from app.tasks.file_tasks import process_excel_file

    t0 = time.monotonic()
    out = ok(run(process_excel_file, stored(corpus / "malformed" / "gnumeric_dimension_A1-XFD1048576.xlsx"),
                 ["analyze", "convert_to_csv"], timeout_s=30))
    assert time.monotonic() - t0 < 15
    sheet = out["analysis"]["sheets"][0]
    assert sheet["declared_dimensions"] == "A1:XFD1048576"
    assert sheet["used_range"] == "A1:K2" and sheet["columns"] == 11
    rows = list(csv.reader(Path(out["csv_files"][0]).read_text(encoding="utf-8").splitlines()))
    assert len(rows) == 2 and rows[0][0] == "Your Ref #"


@pytest.mark.parametrize("name, message", [
    ("malformed/encrypted_password_tika.xlsx", "password-protected"),
    ("malformed/strict_ooxml.xlsx", "Strict Open XML"),
    ("malformed/xml_entity_expansion.xlsx", "DOCTYPE/entities"),
    ("docx/google-docs_no_docprops.docx", "the content is a Word document"),
])
def test_excel_bad_input(corpus, stored, name, message):
    from app.tasks.file_tasks import process_excel_file

    res = run(process_excel_file, stored(corpus / name, "book.xlsx"), ["analyze"])
    assert res.state == "FAILURE"
    assert message in str(res.result)


# --- PowerPoint ------------------------------------------------------------------------------------

def _all_text_xml(path: Path) -> list[str]:
    """Every a:t run in the slide XML, read with lxml directly (independent of python-pptx)."""
    texts = []
    with zipfile.ZipFile(path) as z:
        for n in z.namelist():
            if n.startswith("ppt/slides/slide") and n.endswith(".xml"):
                root = etree.fromstring(z.read(n))
                texts += [t.text for t in root.iter("{http://schemas.openxmlformats.org/drawingml/2006/main}t") if t.text]
    return texts


@pytest.mark.parametrize("name", ["pptx/powerpoint-mac_group_table_picture.pptx",
                                  "pptx/powerpoint2007_48_slides_notes_images.pptx",
                                  "pptx/powerpoint2007_japanese_table_lists.pptx",
                                  "pptx/libreoffice_impress_table.pptx",
                                  "pptx/powerpoint365_bullets_speaker_notes.pptx"])
def test_powerpoint_text_and_structure(corpus, stored, name):
    from app.tasks.file_tasks import process_powerpoint

    path = corpus / name
    out = ok(run(process_powerpoint, stored(path), ["extract_text", "analyze_structure"]))
    text = Path(out["text_file"]).read_text(encoding="utf-8")
    for t in _all_text_xml(path):
        assert t.strip() in text
    prs = pptx.Presentation(str(path))
    assert out["structure"]["slides"] == out["slide_count"] == len(prs.slides)
    with zipfile.ZipFile(path) as z:
        notes = [n for n in z.namelist() if n.startswith("ppt/notesSlides/notesSlide") and n.endswith(".xml")]
    assert out["structure"]["slides_with_notes"] <= len(notes)
    slides = json.loads(Path(out["slides_file"]).read_text(encoding="utf-8"))
    assert [s["number"] for s in slides] == list(range(1, len(prs.slides) + 1))


def test_powerpoint_group_shapes_are_recursed(corpus, stored):
    from app.tasks.file_tasks import process_powerpoint

    out = ok(run(process_powerpoint, stored(corpus / "pptx" / "powerpoint-mac_group_table_picture.pptx"),
                 ["extract_text", "analyze_structure"]))
    assert "Group test text" in out["text_preview"] and "Box 2" in out["text_preview"]
    assert out["structure"]["groups"] == 1 and out["structure"]["tables"] == 1
    assert out["structure"]["pictures"] == 2


def test_powerpoint_notes(corpus, stored):
    from app.tasks.file_tasks import process_powerpoint

    out = ok(run(process_powerpoint, stored(corpus / "pptx" / "powerpoint365_bullets_speaker_notes.pptx"),
                 ["extract_text"]))
    slides = json.loads(Path(out["slides_file"]).read_text(encoding="utf-8"))
    assert out["slides_with_notes"] == 2
    assert slides[1]["notes"].startswith("These are the notes of the 2nd slide")


# --- PDF ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["pdf/google-docs_text_image.pdf", "pdf/word2010_19_pages_images.pdf",
                                  "pdf/libreoffice_multilingual_arabic_russian_chinese.pdf",
                                  "pdf/acrobat-pdfmaker-excel_chinese_xmp.pdf",
                                  "pdf/scanned_epson-scan_with_ocr_layer_5_pages.pdf",
                                  "pdf/pdflatex_117_pages.pdf"])
def test_pdf_text_and_metadata(corpus, stored, name):
    from app.tasks.file_tasks import process_pdf

    path = corpus / name
    out = ok(run(process_pdf, stored(path), ["extract_text", "get_metadata"], timeout_s=120))
    reader = pypdf.PdfReader(path)
    assert out["metadata"]["pages"] == out["pages"] == len(reader.pages)
    assert out["metadata"]["producer"] == (reader.metadata or {}).get("/Producer")
    text = Path(out["text_file"]).read_text(encoding="utf-8")
    for i in (0, len(reader.pages) - 1):
        assert f"--- Page {i + 1} ---\n{reader.pages[i].extract_text()}\n" in text
    assert out["ocr_needed"] is False and out["message"] is None


@pytest.mark.parametrize("name, pages", [("pdf/scanned_epson_image_only.pdf", 1),
                                         ("malformed/encrypted_empty-user-password_scanned_no-id.pdf", 3)])
def test_pdf_scanned_says_ocr_needed(corpus, stored, name, pages):
    from app.tasks.file_tasks import process_pdf

    out = ok(run(process_pdf, stored(corpus / name), ["extract_text", "get_metadata"]))
    assert out["ocr_needed"] is True and "OCR is needed" in out["message"]
    assert out["pages_with_text"] == 0 and out["metadata"]["pages"] == pages


def test_pdf_empty_user_password_is_not_password_protected(corpus, stored):
    from app.tasks.file_tasks import process_pdf

    out = ok(run(process_pdf, stored(corpus / "malformed" / "encrypted_empty-user-password_scanned_no-id.pdf"),
                 ["get_metadata"]))
    assert out["metadata"]["encrypted"] is True
    assert out["metadata"]["encryption"] == "owner password only"
    assert out["metadata"]["producer"] == "European Patent Office"


def test_pdf_user_password_gets_specific_message(corpus, stored):
    from app.tasks.file_tasks import process_pdf

    res = run(process_pdf, stored(corpus / "malformed" / "encrypted_user-password_openpassword.pdf"), ["extract_text"])
    assert res.state == "FAILURE"
    assert type(res.result).__name__ == "UnsupportedFile"
    assert "password-protected" in str(res.result)


# --- Images ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["images/canon_exif_orientation_6.jpg", "images/photoshop_cmyk.jpg",
                                  "images/rgba_transparent.png", "images/typewriter_scan_palette_4000px.png",
                                  "images/nikon-d300_photoshop_300dpi_icc.jpg",
                                  "images/progressive_photoshop_iptc.jpg"])
def test_image_all_operations(corpus, stored, name):
    from app.tasks.file_tasks import process_image

    path = corpus / name
    out = ok(run(process_image, stored(path), ["get_info", "create_thumbnail", "resize"], size=[400, 300]))
    with Image.open(path) as src:
        upright = ImageOps.exif_transpose(src)
        assert (out["info"]["width"], out["info"]["height"]) == src.size
        assert out["info"]["mode"] == src.mode and out["info"]["format"] == src.format
        uw, uh = upright.size
    assert (out["info"]["upright_width"], out["info"]["upright_height"]) == (uw, uh)
    with Image.open(out["thumbnail"]) as th:
        assert max(th.size) <= 256 and th.mode in ("RGB", "RGBA", "L")
        assert abs(th.size[0] / th.size[1] - uw / uh) < 0.05
    with Image.open(out["resized"]) as rs:
        assert rs.size[0] <= 400 and rs.size[1] <= 300 and (rs.size[0] == 400 or rs.size[1] == 300)
        assert abs(rs.size[0] / rs.size[1] - uw / uh) < 0.05
        if "transparent" in name:
            assert rs.format == "PNG" and rs.mode == "RGBA" and rs.getextrema()[3][0] < 255
        else:
            assert rs.format == "JPEG"


def test_image_exif_orientation_makes_portrait_thumbnail(corpus, stored):
    from app.tasks.file_tasks import process_image

    out = ok(run(process_image, stored(corpus / "images" / "canon_exif_orientation_6.jpg"), ["get_info", "create_thumbnail"]))
    assert out["info"]["exif_orientation"] == 6
    assert out["output_sizes"]["thumbnail"] == [192, 256]


def test_image_resize_needs_size(corpus, stored):
    from app.tasks.file_tasks import process_image

    res = run(process_image, stored(corpus / "images" / "photoshop_cmyk.jpg"), ["resize"])
    assert res.state == "FAILURE" and "size" in str(res.result)
