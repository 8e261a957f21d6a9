"""Files without a shared disk: the S3-compatible store against a real S3 server (moto, over HTTP),
and a worker process on its own working directory and DATA_DIR that processes uploads from it."""
from __future__ import annotations

import io
import os
import tempfile
import uuid
import zipfile
from pathlib import Path

import pytest

from app.errors import InvalidInput
from app.files.filestore.local import LocalStore
from app.files.filestore.s3 import S3Store
from tests.conftest import ROOT, wait_for
from tests.fixtures_brokers import start_worker_process, stop_process

WORD = "app.tasks.file_tasks.process_word_document"
EXCEL = "app.tasks.file_tasks.process_excel_file"
REPORT = "app.tasks.report_tasks.generate_analytics_report"
DOCX = "word365_footnotes_endnotes_table_image.docx"
XLSX = "excel2007_japanese_text.xlsx"


def test_storage_refs_are_confined(data_dir, tmp_path):
    s3 = S3Store("files", "console", "http://127.0.0.1:9", "us-east-1", "k", "s")  # no request is made
    assert s3.key_of("s3://files/console/uploads/a.docx") == "console/uploads/a.docx"
    assert s3.key_of("uploads/a.docx") == "console/uploads/a.docx"
    for bad in ("s3://other/console/uploads/a.docx", "s3://files/elsewhere/a.docx", "../x", "uploads/../../x",
                "s3://files/console//a", "/etc/passwd", "uploads/a\x00.docx"):
        with pytest.raises(InvalidInput):
            s3.key_of(bad)
    local = LocalStore(data_dir)
    assert local.path_of("uploads/x.docx") == (data_dir / "uploads" / "x.docx").resolve()
    for bad in ("/etc/passwd", "../../etc/passwd", "s3://files/console/uploads/a.docx", str(tmp_path / "a")):
        with pytest.raises(InvalidInput):
            local.path_of(bad)


def test_upload_download_and_missing_object(s3_server):
    store = s3_server.store()
    stored = store.save_upload("../../evil name.docx", b"PK\x03\x04 not really", 1_000_000)
    assert stored.path.startswith(f"s3://{s3_server.bucket}/console/uploads/") and stored.path.endswith(".docx")
    assert stored.original_name == "evil name.docx" and stored.size_bytes == 15
    with store.open(stored.path) as body:
        assert body.read() == b"PK\x03\x04 not really"
    with pytest.raises(InvalidInput, match="empty"):
        store.save_upload("a.txt", b"", 10)
    with pytest.raises(InvalidInput, match="limit"):
        store.save_upload("a.txt", b"x" * 11, 10)
    assert not store.exists(f"s3://{s3_server.bucket}/console/uploads/{uuid.uuid4().hex}.docx")
    with pytest.raises(InvalidInput, match="missing"):
        store.fetch(f"s3://{s3_server.bucket}/console/uploads/{uuid.uuid4().hex}.docx", Path(tempfile.mkdtemp()) / "x")


def _doctype_docx(corpus: Path) -> bytes:
    src = corpus / "docx" / "google-docs_no_docprops.docx"
    out = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "word/document.xml":
                data = data.replace(b"?>", b'?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', 1)
            zout.writestr(info.filename, data)
    return out.getvalue()


@pytest.fixture()
def remote_worker(s3_server, redis_url, tmp_path):
    """A worker process that shares no disk with the console: its own cwd and DATA_DIR, files in S3."""
    cwd, worker_data = tmp_path / "worker-host", tmp_path / "worker-data"
    cwd.mkdir()
    queue = f"remote_{uuid.uuid4().hex[:6]}"
    env = dict(os.environ, REDIS_URL=redis_url, DATA_DIR=str(worker_data), PYTHONPATH=str(ROOT),
               **s3_server.settings_env())
    proc = start_worker_process(env, queue, f"remote{uuid.uuid4().hex[:4]}", cwd=cwd, concurrency=2,
                                log_path=tmp_path / "worker.log")
    yield queue, worker_data, proc
    stop_process(proc)


def test_worker_without_shared_disk_processes_docx_xlsx_and_report(celery_app, s3_server, remote_worker,
                                                                   corpus, data_dir):
    import docx

    queue, worker_data, proc = remote_worker
    store = s3_server.store()
    doc_url = store.save_upload(DOCX, (corpus / "docx" / DOCX).read_bytes(), 50_000_000).path
    xlsx_url = store.save_upload(XLSX, (corpus / "xlsx" / XLSX).read_bytes(), 50_000_000).path
    csv_url = store.save_upload("sales.csv", b"city,amount\nOslo,10\nRiga,12.5\nOslo,1\n", 1_000_000).path
    bad_url = store.save_upload("bad.docx", _doctype_docx(corpus), 1_000_000).path

    word = celery_app.send_task(WORD, args=[doc_url, ["extract_text", "count_stats", "extract_images"]], queue=queue)
    excel = celery_app.send_task(EXCEL, args=[xlsx_url, ["analyze", "convert_to_csv"]], queue=queue)
    report = celery_app.send_task(REPORT, kwargs={"data": {"file_path": csv_url}, "format": "html,xlsx",
                                                  "group_by": "city"}, queue=queue)
    hostile = celery_app.send_task(WORD, args=[bad_url, ["extract_text"]], queue=queue)

    out = word.get(timeout=120)["outputs"]
    assert out["text_file"].startswith(f"s3://{s3_server.bucket}/console/outputs/{word.id}/")
    with store.open(out["text_file"]) as body:
        text = body.read().decode("utf-8")
    for para in docx.Document(str(corpus / "docx" / DOCX)).paragraphs:
        assert para.text in text
    assert out["stats"]["words"] == len(text.split()) > 0
    assert len(out["images"]) == 2 and all(u.startswith("s3://") and store.exists(u) for u in out["images"])

    xl = excel.get(timeout=120)
    assert xl["file_path"] == xlsx_url
    csv_files = xl["outputs"]["csv_files"]
    assert csv_files and all(u.startswith(f"s3://{s3_server.bucket}/console/outputs/{excel.id}/") for u in csv_files)
    with store.open(csv_files[0]) as body:
        assert body.read()

    rep = report.get(timeout=120)["outputs"]
    assert set(rep) == {"html_file", "xlsx_file"}
    with store.open(rep["html_file"]) as body:
        html = body.read().decode("utf-8")
    assert "Oslo" in html and "Riga" in html

    with pytest.raises(Exception) as err:  # the hostile-file guard runs unchanged on the downloaded copy
        hostile.get(timeout=120)
    assert type(err.value).__name__ == "UnsafeFile"

    # The worker cleaned its temporary folders; nothing was written to the console's disk.
    assert not any((worker_data / "uploads").rglob("*")) if (worker_data / "uploads").exists() else True
    assert not any((data_dir / "outputs" / t.id).exists() for t in (word, excel, report))
    assert not (worker_data / "outputs").exists()


def test_console_downloads_stream_from_the_store(s3_server, monkeypatch, tmp_path):
    from app.ui import ai_forms, downloads, report_results, uploads
    from config.settings import get_settings

    class Uploaded:  # the two members of Streamlit's UploadedFile that the upload helpers read
        name = "report.csv"

        def getvalue(self):
            return b"a,b\n1,2\n"

    for key, value in s3_server.settings_env().items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        stored = uploads.store_upload(Uploaded())
        assert stored.path.startswith(f"s3://{s3_server.bucket}/console/uploads/")
        ref, name, mime = report_results.download_spec(stored.path, "Q3 sales.csv")
        assert name == "Q3 sales.csv" and mime == "text/csv"
        assert downloads.image_source(stored.path) == b"a,b\n1,2\n"
        with pytest.raises(InvalidInput):
            report_results.download_spec(f"s3://another-bucket/console/uploads/{uuid.uuid4().hex}.csv")
        text = tmp_path / "doc.txt"
        text.write_text("extracted text")
        url = s3_server.store().put_file(text, f"outputs/{uuid.uuid4()}/doc.txt")
        listed = ai_forms.processed_text_files(tmp_path)  # the AI page's "processed upload" choices
        assert str(listed[0]) == url and "doc.txt · 0.0 KB" in ai_forms._file_label(listed[0])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_current_is_one_store_per_configuration(s3_server, monkeypatch):
    from app.files import filestore
    from config.settings import get_settings

    get_settings.cache_clear()
    try:
        local = filestore.current()
        assert local.kind == "local" and filestore.current() is local
        get_settings.cache_clear()
        assert filestore.current() is local  # settings reloaded with the same values: the same store
        for key, value in s3_server.settings_env().items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        remote = filestore.current()
        assert remote.kind == "s3" and remote.bucket == s3_server.bucket and filestore.current() is remote
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert filestore.current() is local


def test_storage_outage_is_retried_not_lost(s3_server, tmp_path):
    """An unreachable store is ServiceUnavailable (file and report tasks retry it), not a lost file."""
    from app.errors import ServiceUnavailable
    from app.launcher.redis_server import free_port

    dead = S3Store(s3_server.bucket, "console", f"http://127.0.0.1:{free_port()}", "us-east-1", "testing", "testing",
                   timeout_s=1)
    with pytest.raises(ServiceUnavailable):
        dead.fetch(f"s3://{s3_server.bucket}/console/uploads/x.docx", tmp_path / "x.docx")
