"""batch_process_files as a chord through a real worker, and cleanup_temp_files against real history."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from celery.result import AsyncResult

from app.store import keys
from tests.conftest import wait_for

pytestmark = pytest.mark.usefixtures("celery_worker")


def test_batch_mixed_files_one_bad_fails_only_itself(corpus, stored, celery_app, redis_client):
    from app.tasks.file_tasks import batch_process_files

    files = [corpus / "docx" / "google-docs_no_docprops.docx", corpus / "xlsx" / "excel2007_japanese_text.xlsx",
             corpus / "pptx" / "powerpoint365_bullets_speaker_notes.pptx", corpus / "pdf" / "google-docs_text_image.pdf",
             corpus / "images" / "rgba_transparent.png", corpus / "malformed" / "truncated_zip.docx"]
    paths = [stored(f) for f in files]
    names = [f.name for f in files]
    res = batch_process_files.apply_async(args=[paths], kwargs={"names": names,
                                                                "operations": {"excel": ["calculate_totals"]}})
    dispatched = wait_for(lambda: res.ready(), 30) and res.result
    assert dispatched["status"] == "dispatched" and len(dispatched["items"]) == len(files)
    summary_res = AsyncResult(dispatched["summary_task_id"], app=celery_app)
    summary = wait_for(lambda: summary_res.ready(), 90) and summary_res.result
    assert summary["summary"] == {"total": 6, "completed": 5, "failed": 1,
                                  "by_family": {"word": 1, "excel": 1, "powerpoint": 1, "pdf": 1, "image": 1,
                                                "unknown": 1}}
    results = summary["results"]
    assert [r["name"] for r in results] == names
    assert results[0]["outputs"]["stats"]["words"] == 305
    assert set(results[1]["outputs"]) == {"totals"}
    assert results[1]["outputs"]["totals"]["Sheet1"]["RecordSpec"] == 153
    assert results[4]["outputs"]["info"]["mode"] == "RGBA"
    assert results[5]["status"] == "failed" and "damaged" in results[5]["error"]
    # Each file's entry is also its own task, on the routed queue, recorded in the history.
    for item in dispatched["items"]:
        entry = wait_for(lambda: redis_client.hgetall(keys.task(item["task_id"])).get("state") == "SUCCESS"
                         and redis_client.hgetall(keys.task(item["task_id"])))
        assert entry["queue"] == "file_processing_queue"


def test_batch_rejects_empty_list():
    from app.tasks.file_tasks import batch_process_files

    res = batch_process_files.apply_async(args=[[]])
    res.get(timeout=20, propagate=False)
    assert res.state == "FAILURE" and "at least one" in str(res.result)


def _age(path: Path, seconds: float) -> None:
    old = time.time() - seconds
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(p, (old, old), follow_symlinks=False)


def test_cleanup_removes_old_files_but_spares_unfinished_tasks(corpus, stored, data_dir, redis_client):
    from app.files import storage
    from app.tasks.file_tasks import cleanup_temp_files

    old_upload = Path(stored(corpus / "images" / "photoshop_cmyk.jpg"))
    busy_upload = Path(stored(corpus / "images" / "rgba_transparent.png"))
    fresh_upload = Path(stored(corpus / "images" / "progressive_photoshop_iptc.jpg"))
    old_out = storage.output_dir(data_dir, "11111111-2222-3333-4444-555555555555")
    (old_out / "text.txt").write_text("old")
    busy_out = storage.output_dir(data_dir, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
    (busy_out / "text.txt").write_text("in progress")
    for p in (old_upload, busy_upload, old_out, busy_out):
        _age(p, 3 * 86_400)
    # A task still queued that names busy_upload, and one running whose outputs are busy_out, in the
    # history index exactly as the recorder writes it.
    from app import runtime
    runtime.get().writer.write("queued-task-1", "SENT", {"args": f'["{busy_upload}", ["get_info"]]'},
                    name="app.tasks.file_tasks.process_image", first_seen=True)
    runtime.get().writer.write("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "STARTED", {"args": "[]"},
                    name="app.tasks.file_tasks.process_pdf", first_seen=True)
    runtime.get().writer.flush()
    try:
        res = cleanup_temp_files.apply_async(kwargs={"retention_s": 86_400})
        out = res.get(timeout=30)
    finally:
        runtime.get().writer.write("queued-task-1", "SUCCESS", {})
        runtime.get().writer.write("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "SUCCESS", {})
        runtime.get().writer.flush()
    assert out["status"] == "completed"
    assert not old_upload.exists() and not old_out.exists()
    assert busy_upload.exists() and busy_out.exists() and fresh_upload.exists()
    assert out["removed_uploads"] >= 1 and out["removed_outputs"] >= 1 and out["kept_in_use"] >= 2
    # Once those tasks have finished, the next run removes their old files too.
    out2 = cleanup_temp_files.apply_async(kwargs={"retention_s": 86_400}).get(timeout=30)
    assert not busy_upload.exists() and not busy_out.exists() and fresh_upload.exists()
    assert out2["removed_uploads"] >= 1


def test_cleanup_never_follows_symlinks(data_dir, tmp_path):
    from app.maintenance import cleanup

    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    uploads = data_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    link = uploads / "0123456789abcdef0123456789abcdef"
    link.symlink_to(outside, target_is_directory=True)
    os.utime(link, (1, 1), follow_symlinks=False)
    stats = cleanup.remove_expired(data_dir, 60, set(), now=time.time())
    assert not link.exists() and not link.is_symlink()
    assert (outside / "keep.txt").read_text() == "keep"
    assert stats["removed_uploads"] >= 1
