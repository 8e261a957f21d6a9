"""process_word_document through a real worker on real documents and on broken input."""
from __future__ import annotations

import zipfile
from pathlib import Path

import docx
import pytest

from app.store import history
from tests.conftest import wait_for

pytestmark = pytest.mark.usefixtures("celery_worker")


def run(task, *args, timeout_s=60):
    result = task.apply_async(args=args)
    result.get(timeout=timeout_s, propagate=False)
    return result


def test_word_document_all_operations_on_corpus(corpus, stored, redis_client):
    from app.tasks.file_tasks import process_word_document

    path = corpus / "docx" / "word365_footnotes_endnotes_table_image.docx"
    res = run(process_word_document, stored(path), ["extract_text", "count_stats", "extract_images"])
    assert res.state == "SUCCESS", res.traceback
    out = res.result["outputs"]
    independent = docx.Document(str(path))
    text = Path(out["text_file"]).read_text(encoding="utf-8")
    for para in independent.paragraphs:
        assert para.text in text
    assert out["stats"]["tables"] == len(independent.tables) == 1
    assert out["stats"]["words"] == len(text.split()) > 0
    with zipfile.ZipFile(path) as z:
        media = sorted(n for n in z.namelist() if n.startswith("word/media/"))
    assert len(out["images"]) == len(media) == 2
    blobs = {Path(p).read_bytes() for p in out["images"]}
    with zipfile.ZipFile(path) as z:
        assert blobs == {z.read(n) for n in media}
    # The history index saw it on its routed queue.
    entry = wait_for(lambda: (t := history.get_task(redis_client, res.id)) and t["state"] == "SUCCESS" and t)
    assert entry["queue"] == "file_processing_queue"
    assert entry["name"] == "app.tasks.file_tasks.process_word_document"
    assert entry["worker"] and entry["runtime_s"] > 0


def test_word_cjk_tables_in_reading_order(corpus, stored):
    from app.tasks.file_tasks import process_word_document

    path = corpus / "docx" / "libreoffice_chinese_12_tables.docx"
    res = run(process_word_document, stored(path), ["extract_text", "count_stats"])
    assert res.state == "SUCCESS", res.traceback
    stats = res.result["outputs"]["stats"]
    assert stats["tables"] == 12
    text = Path(res.result["outputs"]["text_file"]).read_text(encoding="utf-8")
    assert "东阳市" in text
    first_table_cell = docx.Document(str(path)).tables[0].rows[0].cells[0].text.replace("\n", " ").strip()
    assert first_table_cell and first_table_cell in text


@pytest.mark.parametrize("name, message", [
    ("malformed/truncated_zip.docx", "damaged"),
    ("malformed/strict_ooxml.docx", "Strict"),
    ("pdf/google-docs_text_image.pdf", "not a Word"),
])
def test_broken_input_fails_readably_and_worker_survives(corpus, stored, name, message):
    from app.tasks.file_tasks import process_word_document

    res = run(process_word_document, stored(corpus / name, "upload.docx"), ["extract_text"])
    assert res.state == "FAILURE"
    assert message in str(res.result)
    ok = run(process_word_document, stored(corpus / "docx" / "google-docs_no_docprops.docx"), ["count_stats"])
    assert ok.state == "SUCCESS"
    assert ok.result["outputs"]["stats"]["words"] == 305


def test_path_outside_data_dir_is_refused(tmp_path):
    from app.tasks.file_tasks import process_word_document

    outside = tmp_path / "x.docx"
    outside.write_bytes(b"PK")
    res = run(process_word_document, str(outside), ["extract_text"])
    assert res.state == "FAILURE"
    assert "outside the data directory" in str(res.result)
