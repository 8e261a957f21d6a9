"""AppTest for the File Processing page: every file type, a batch, hostile names, lying extensions."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app.store import history
from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.usefixtures("celery_worker")
PAGE = str(ROOT / "pages" / "file_processing.py")


def _page():
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert not at.exception, at.exception
    return at


def _submit(at, uploads, batch=True):
    for name, data in uploads:
        at.file_uploader[0].upload(name, data, "application/octet-stream")
    at.checkbox[0].set_value(batch)
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def _finish(at, redis_client, job_id):
    wait_for(lambda: (t := history.get_task(redis_client, job_id)) and t["state"] in ("SUCCESS", "FAILURE"), 60)
    at.run()
    assert not at.exception, at.exception


def _texts(at) -> str:
    parts = [m.value for m in at.markdown] + [t.value for t in at.text] + [c.value for c in at.caption]
    parts += [e.value for e in at.error] + [w.value for w in at.warning] + [str(m.value) for m in at.metric]
    parts += [str(m.label) for m in at.metric] + [t.value for t in at.text_area]
    return "\n".join(parts)


@pytest.mark.parametrize("name, check", [
    ("xlsx/excel2007_japanese_text.xlsx", lambda at: any(df.value.shape[0] for df in at.dataframe)),
    ("pptx/powerpoint-mac_group_table_picture.pptx", lambda at: "Group test text" in _texts(at)),
    ("pdf/scanned_epson_image_only.pdf", lambda at: "OCR is needed" in _texts(at)),
    ("pdf/google-docs_text_image.pdf", lambda at: "PDF Example Document" in _texts(at)),
    ("images/canon_exif_orientation_6.jpg", lambda at: "Thumbnail: 192×256 px" in _texts(at)),
    ("docx/google-docs_no_docprops.docx", lambda at: any(m.label == "Words" and m.value == "305" for m in at.metric)),
])
def test_each_file_type_runs_and_renders(corpus, redis_client, name, check):
    path = corpus / name
    at = _submit(_page(), [(path.name, path.read_bytes())], batch=False)
    jobs = at.session_state["file_jobs"]
    assert len(jobs) == 1 and jobs[0]["name"] == path.name
    _finish(at, redis_client, jobs[0]["id"])
    assert history.get_task(redis_client, jobs[0]["id"])["state"] == "SUCCESS"
    assert check(at), _texts(at)[:2000]


def test_batch_submission_shows_each_file_and_summary(corpus, redis_client, celery_app):
    files = [corpus / "docx" / "google-docs_no_docprops.docx", corpus / "images" / "rgba_transparent.png",
             corpus / "malformed" / "header_and_eof_only.pdf"]
    at = _submit(_page(), [(f.name, f.read_bytes()) for f in files], batch=True)
    job = at.session_state["file_jobs"][0]
    assert job["batch"] and job["name"] == "Batch of 3 files"
    _finish(at, redis_client, job["id"])
    dispatched = celery_app.AsyncResult(job["id"]).result
    for item in dispatched["items"] + [{"task_id": dispatched["summary_task_id"]}]:
        _finish(at, redis_client, item["task_id"])
    text = _texts(at)
    for f in files:
        assert f.name in text
    assert "damaged" in text  # the broken PDF fails only its own entry
    assert any(m.label == "Completed" and m.value == "2" for m in at.metric)
    assert any(m.label == "Failed" and m.value == "1" for m in at.metric)


@pytest.mark.parametrize("hostile", ["../../x.png", "/abs/path/evil.png", "<script>alert(1)</script>.png",
                                     "**bold** [link](http://x).png"])
def test_hostile_client_names_never_become_paths_or_markup(corpus, data_dir, hostile):
    data = (corpus / "images" / "rgba_transparent.png").read_bytes()
    at = _submit(_page(), [(hostile, data)], batch=False)
    job = at.session_state["file_jobs"][0]
    assert "/" not in job["name"] and "\x00" not in job["name"] and "<" not in job["name"]
    assert "<script>" not in _texts(at)
    stored = [p for p in (data_dir / "uploads").iterdir()]
    assert all(p.parent == data_dir / "uploads" for p in stored)
    assert not (data_dir.parent / "x.png").exists() and not (data_dir / "x.png").exists()


def test_lying_extension_is_reported_and_nothing_queued(corpus):
    pdf = (corpus / "pdf" / "google-docs_text_image.pdf").read_bytes()
    at = _submit(_page(), [("budget.xlsx", pdf)], batch=False)
    assert at.session_state["file_jobs"] == []
    assert any("the content is pdf, not xlsx" in e.value for e in at.error)


def test_unsupported_content_is_refused(corpus):
    at = _submit(_page(), [("legacy.pdf", (corpus / "malformed" / "encrypted_password_tika.xlsx").read_bytes())],
                 batch=False)
    assert at.session_state["file_jobs"] == []
    assert at.error


def test_nul_in_name_is_stripped_before_storage(data_dir):
    """Streamlit's uploader refuses NUL itself; the storage layer is checked directly for callers."""
    from app.files import storage

    stored = storage.save_upload(data_dir, "../a\x00b<i>.png", b"x", max_bytes=10)
    assert stored.path.parent == (data_dir / "uploads").resolve()
    assert stored.original_name == "ab_i_.png"
