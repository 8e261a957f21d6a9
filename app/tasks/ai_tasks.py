"""AI tasks on ai_queue: max 3 retries, 10 s countdown, rate limit 10/m, time limit 10 min.

Each task decodes its arguments, calls one `app.llm` function and turns a transient
provider failure (ProviderBusy: 429, 5xx, timeout, connection) into a Celery retry. The countdown
is AI_RETRY_COUNTDOWN_S × 2^retries (10, 20, 40 s), or the provider's Retry-After when longer.
400/401/403/404 (ProviderRejected), a missing key (NotConfigured) and bad input (InvalidInput)
fail at once with the provider's or the console's message.

Bound on HTTP attempts per task: each delivery makes at most AI_SDK_MAX_RETRIES + 1 attempts per
model call (SDK retries) and the task is delivered at most 1 + 3 times, so a single-call task
makes at most 4 × (AI_SDK_MAX_RETRIES + 1) = 8 HTTP attempts with the defaults. A long document
makes one call per part (plus one to merge summaries), each with the same per-call bound.
Rate limit (AI_RATE_LIMIT, default 10/m) is Celery's per-worker, per-task-type token bucket.
Streaming: while a model writes, PROGRESS meta carries ``partial_text`` (the last 20,000 chars).
Results never hold API keys; output is plain text for the page to show as text.
"""
from __future__ import annotations

import logging
from types import MappingProxyType

from celery import shared_task
from celery.exceptions import Retry

from app import runtime
from app.errors import ProviderBusy
from app.store import answers
from app.files import filestore, storage
from app import llm
from app.llm import batch
from app.tasks.base import ConsoleTask
from config.settings import get_settings

MAX_RETRIES = 3
PARTIAL_TEXT_CHARS = 20_000
MAX_COUNTDOWN_S = 3_600
log = logging.getLogger(__name__)
AI_TASK_OPTIONS = MappingProxyType(dict(base=ConsoleTask, bind=True, max_retries=MAX_RETRIES, default_retry_delay=10,
                                        rate_limit=get_settings().AI_RATE_LIMIT or None, soft_time_limit=570, time_limit=600))


def retry_countdown_s(retries: int, retry_after_s: float | None, base_s: float) -> float:
    """Seconds before the next delivery: base × 2^retries, or Retry-After when longer; at most 1 h."""
    return min(MAX_COUNTDOWN_S, max(base_s * 2 ** retries, retry_after_s or 0.0))


class Reporter:
    """Progress of one task: the current part, and the streamed text as PROGRESS meta."""

    def __init__(self, task):
        self.task, self.part, self.parts = task, 0, 1

    def on_part(self, index: int, total: int) -> None:
        self.part, self.parts = index, total
        self.task.report_progress(index, total, f"part {index + 1} of {total}")

    def on_text(self, text: str) -> None:
        self.task.report_progress(self.part, self.parts, "writing", partial_text=text[-PARTIAL_TEXT_CHARS:])


def _stored_answers():
    return runtime.get().redis


def _run(task, fn, *args, **kwargs):
    """Call a service function; ProviderBusy becomes a retry until the retries run out.

    An answer is paid for once per task id: it is stored in Redis (`app.store.answers`,
    2 days) as soon as the provider returned it, and a redelivery of the same task (its worker was
    lost before the result was saved, or a retry after a later step failed) returns the stored answer
    with ``reused: True`` instead of calling the provider again.
    """
    task_id = task.request.id if task.request.id and not task.request.called_directly else None
    if task_id:
        try:
            stored = answers.get(_stored_answers(), task_id)
        except Exception:  # noqa: BLE001 - no Redis: nothing stored to reuse
            stored = None
        if stored:
            return {**stored, "reused": True}
    try:
        result = fn(*args, **kwargs)
    except ProviderBusy as exc:
        retries = task.request.retries
        if retries >= task.max_retries:
            raise ProviderBusy(f"{exc} Gave up after {retries + 1} deliveries of the task "
                               f"(max_retries={task.max_retries}).") from None
        raise task.retry(exc=exc, countdown=retry_countdown_s(retries, exc.retry_after_s,
                                                              get_settings().AI_RETRY_COUNTDOWN_S))
    if task_id and isinstance(result, dict):
        try:
            answers.put(_stored_answers(), task_id, result)
        except (TypeError, ValueError):
            pass  # not JSON (never for the llm services): nothing to reuse
        except Exception as exc:  # noqa: BLE001 - the answer is still returned
            log.warning("storing the AI answer of %s failed: %s", task.request.id, exc)
    return result


def _complete(task, provider, prompt, model, system, max_tokens, temperature):
    r = Reporter(task)
    return _run(task, llm.complete, provider, prompt, system=system, model=model, max_tokens=max_tokens,
                temperature=temperature, on_text=r.on_text, settings=get_settings())


@shared_task(**AI_TASK_OPTIONS)
def claude_completion(self, prompt: str, model: str | None = None, system: str | None = None,
                      max_tokens: int = 1024, temperature: float | None = None) -> dict:
    """Complete `prompt` with Claude. Returns ``{'content', 'model', 'provider', 'usage':
    {'input_tokens', 'output_tokens'}, 'cost_usd' (None if unpriced), 'latency_ms', 'request_id',
    'attempts', 'stop_reason'}``. Raises InvalidInput / NotConfigured / ProviderRejected /
    ProviderBusy (after retries)."""
    return _complete(self, "anthropic", prompt, model, system, max_tokens, temperature)


@shared_task(**AI_TASK_OPTIONS)
def openai_completion(self, prompt: str, model: str | None = None, system: str | None = None,
                      max_tokens: int = 1024, temperature: float | None = None) -> dict:
    """Complete `prompt` with OpenAI or the compatible server at OPENAI_BASE_URL (same result as
    `claude_completion`)."""
    return _complete(self, "openai", prompt, model, system, max_tokens, temperature)


@shared_task(**AI_TASK_OPTIONS)
def analyze_document(self, document_text: str | None = None, analysis_type: str = "summary",
                     provider: str = "anthropic", model: str | None = None, text_file: str | None = None,
                     max_tokens: int = 1024) -> dict:
    """Analyse a document: summary, key_points, sentiment or entities.

    Give `document_text`, or `text_file`: the stored path of a processed upload's text file
    (under DATA_DIR, or its storage URL with FILE_STORE=s3). Long documents go in parts, with progress per part. Returns
    `app.llm.analysis.analyze_document`'s result (``'content'`` plus the structured
    ``'key_points'`` / ``'sentiment'`` / ``'entities'``, ``'parts'``, usage and cost).
    """
    if text_file:
        with filestore.task_files(None) as files:  # a path under DATA_DIR, or a storage URL / key
            path = storage.existing_file(get_settings().DATA_DIR, files.local(text_file),
                                         "The text file is missing: {name}. Process the upload again.")
            document_text = path.read_text(encoding="utf-8", errors="replace")
    r = Reporter(self)
    result = _run(self, llm.analyze_document, document_text, analysis_type, provider=provider, model=model,
                  max_tokens=max_tokens, on_text=r.on_text, on_part=r.on_part, settings=get_settings())
    return {**result, "text_file": text_file}


@shared_task(**AI_TASK_OPTIONS)
def generate_content(self, content_type: str, topic: str, tone: str = "professional", length: str = "medium",
                     provider: str = "anthropic", model: str | None = None) -> dict:
    """Write an email, blog_post, report or social_post about `topic`."""
    r = Reporter(self)
    return _run(self, llm.generate_content, content_type, topic, tone, length, provider=provider, model=model,
                on_text=r.on_text, settings=get_settings())


@shared_task(**AI_TASK_OPTIONS)
def translate_text(self, text: str, target_language: str, source_language: str | None = None,
                   provider: str = "anthropic", model: str | None = None) -> dict:
    """Translate `text` into `target_language`; long text goes in parts."""
    r = Reporter(self)
    return _run(self, llm.translate_text, text, target_language, source_language, provider=provider,
                model=model, on_text=r.on_text, on_part=r.on_part, settings=get_settings())


@shared_task(**AI_TASK_OPTIONS)
def chat_completion(self, messages: list[dict], provider: str = "anthropic", model: str | None = None,
                    system: str | None = None, max_tokens: int = 1024, temperature: float | None = None) -> dict:
    """The next assistant message of a conversation ``[{'role': 'user'|'assistant', 'content'}]``
    same result as `claude_completion`."""
    r = Reporter(self)
    return _run(self, llm.converse, provider, messages, system=system, model=model, max_tokens=max_tokens,
                temperature=temperature, on_text=r.on_text, settings=get_settings())


@shared_task(**AI_TASK_OPTIONS)
def batch_ai_requests(self, requests: list[dict]) -> dict:
    """Run several requests (see `app.llm.batch`) as a Celery group, then summarise.

    All requests are checked first (a bad one fails the batch before anything runs). The task is
    replaced by ``chord(group(batch_item × N), batch_summary)``, so its id ends with the summary's
    result: ``{'results': [{'index', 'task_id', 'status': 'succeeded'|'failed', 'result'|'error'}],
    'summary': {'total', 'succeeded', 'failed', 'input_tokens', 'output_tokens', 'cost_usd',
    'cost_complete', 'latency_ms'}}``. Each item retries on its own like the other AI tasks.
    """
    from celery import chord, group

    checked = batch.check_requests(requests, get_settings(), get_settings().AI_BATCH_MAX_REQUESTS)
    self.report_progress(0, len(checked), f"{len(checked)} requests queued")
    items = group(batch_item.s(i, req) for i, req in enumerate(checked))
    return self.replace(chord(items, batch_summary.s()))


@shared_task(**AI_TASK_OPTIONS)
def batch_item(self, index: int, request: dict) -> dict:
    """One request of a batch: ``{'index', 'task_id', 'status': 'succeeded', 'result'}`` or
    ``{'index', 'task_id', 'status': 'failed', 'error': 'Type: message'}`` (failures are results,
    so the summary runs)."""
    r = Reporter(self)
    try:
        result = _run(self, batch.run_request, request, get_settings(), on_text=r.on_text)
    except Retry:
        raise
    except Exception as exc:  # noqa: BLE001 - one failed request must not sink the batch
        return {"index": index, "task_id": self.request.id, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    return {"index": index, "task_id": self.request.id, "status": "succeeded", "result": result}


@shared_task(base=ConsoleTask, bind=True)
def batch_summary(self, items: list[dict]) -> dict:
    """The chord callback of `batch_ai_requests`: per-request results in order and their summary."""
    items = sorted(items, key=lambda i: i["index"])
    return {"results": items, "summary": batch.summarize(items)}
