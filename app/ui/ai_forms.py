"""The AI page's tabs: one form each, checked before anything is queued, then the tab's jobs.

Every form checks the chosen provider's API key first (`providers.api_key`), so a missing key is
an error on the page and nothing reaches ai_queue. Jobs are kept per tab in
``st.session_state['ai_jobs']`` (newest first, last MAX_JOBS shown).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import streamlit as st

from app.errors import ConsoleError
from app.files import filestore
from app.llm import prompts, providers
from app.ui import timing
from app.ui.ai_results import ai_task_panel
from app.ui.resources import celery, settings

TASKS = "app.tasks.ai_tasks."
MAX_JOBS = 5


def when(tab: str) -> timing.Choice:
    """The tab's priority / Run after / Run at widgets (inside its form)."""
    return timing.inputs(f"ai_{tab}", celery(), settings=settings())


def submit(tab: str, task: str, kwargs: dict, title: str, provider: str,
           choice: timing.Choice | None = None) -> str | None:
    """Queue `task` with `kwargs` (and the priority and delay of `choice`) unless the provider is not
    configured or the delay is refused; returns the task id."""
    try:
        providers.api_key(settings(), provider)
        options = choice.options(celery()) if choice is not None else {}
    except ConsoleError as exc:
        st.error(str(exc))
        return None
    from app.ui import access

    result = access.submit(celery().tasks[TASKS + task], kwargs=kwargs, **options)
    if result is None:
        return None
    st.session_state.ai_jobs.setdefault(tab, []).insert(0, {"id": result.id, "title": title})
    return result.id


def jobs(tab: str) -> None:
    for job in st.session_state.ai_jobs.get(tab, [])[:MAX_JOBS]:
        with st.container(border=True):
            ai_task_panel(job["id"], job["title"])


def completion(provider: str, model: str | None) -> None:
    with st.form("ai_completion"):
        prompt = st.text_area("Prompt", height=150)
        system = st.text_area("System prompt (optional)", height=68)
        c1, c2 = st.columns(2)
        max_tokens = c1.number_input("Max output tokens", 1, 128_000, 1024)
        temperature = c2.number_input("Temperature (empty = model default)", 0.0, 1.0, value=None, step=0.1)
        choice = when("completion")
        go = st.form_submit_button("Complete", type="primary")
    if go:
        if not prompt.strip():
            st.warning("Write a prompt first.")
        else:
            task = "claude_completion" if provider == "anthropic" else "openai_completion"
            submit("completion", task, {"prompt": prompt, "model": model, "system": system.strip() or None,
                                        "max_tokens": int(max_tokens), "temperature": temperature},
                   f"Completion · {prompt[:40]}", provider, choice)
    jobs("completion")


@dataclass(frozen=True)
class StoredText:
    """A processed upload's text file in the S3 store: `str()` is its storage URL."""

    url: str
    size_bytes: int
    modified: float

    def __str__(self) -> str:
        return self.url


def processed_text_files(data_dir: Path, limit: int = 50) -> list[Path] | list[StoredText]:
    """Text files written by file-processing tasks (``outputs/<job>/*.txt``), newest first: local
    paths, or `StoredText` entries with FILE_STORE=s3."""
    store = filestore.current()
    if store.kind == "s3":
        return [StoredText(*entry) for entry in store.list_outputs(".txt", limit)]
    files = [p for p in (Path(data_dir) / "outputs").glob("*/*.txt") if p.is_file()]
    return sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)[:limit]


def _job_of(item) -> str:
    return PurePosixPath(str(item)).parent.name[:8]


def _file_label(item) -> str:
    if isinstance(item, StoredText):
        size, modified = item.size_bytes, item.modified
    else:
        stat = item.stat()
        size, modified = stat.st_size, stat.st_mtime
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(modified))
    return f"{_job_of(item)} · {PurePosixPath(str(item)).name} · {size / 1024:.1f} KB · {when} UTC"


def analysis(provider: str, model: str | None) -> None:
    source = st.radio("Document", ["Paste text", "Processed upload"], horizontal=True, key="ai_doc_source")
    files = processed_text_files(settings().DATA_DIR) if source == "Processed upload" else []
    with st.form("ai_analysis"):
        if source == "Paste text":
            text, picked = st.text_area("Document text", height=200), None
        else:
            text = ""
            picked = st.selectbox("Text file of a processed upload", files, format_func=_file_label,
                                  placeholder="No processed uploads yet: use File Processing first")
        kind = st.selectbox("Analysis", prompts.ANALYSIS_TYPES, format_func=lambda k: k.replace("_", " "))
        choice = when("analysis")
        go = st.form_submit_button("Analyse", type="primary")
    if go:
        if source == "Paste text" and not text.strip():
            st.warning("Paste the document's text first.")
        elif source == "Processed upload" and picked is None:
            st.warning("Choose a processed upload (or paste text).")
        else:
            args = {"document_text": text} if picked is None else {"text_file": str(picked)}
            submit("analysis", "analyze_document", {**args, "analysis_type": kind, "provider": provider,
                                                    "model": model},
                   f"{kind.replace('_', ' ').title()} · {_job_of(picked) if picked else text[:40]}", provider,
                   choice)
    jobs("analysis")


def generation(provider: str, model: str | None) -> None:
    with st.form("ai_generation"):
        c1, c2, c3 = st.columns(3)
        content_type = c1.selectbox("Content type", prompts.CONTENT_TYPES, format_func=lambda k: k.replace("_", " "))
        tone = c2.text_input("Tone", "professional", max_chars=60)
        length = c3.selectbox("Length", list(prompts.LENGTHS), index=1)
        topic = st.text_area("Topic or brief", height=120)
        choice = when("generation")
        go = st.form_submit_button("Generate", type="primary")
    if go:
        if not topic.strip():
            st.warning("Describe the topic first.")
        else:
            submit("generation", "generate_content", {"content_type": content_type, "topic": topic, "tone": tone,
                                                      "length": length, "provider": provider, "model": model},
                   f"{content_type.replace('_', ' ').title()} · {topic[:40]}", provider, choice)
    jobs("generation")


def translation(provider: str, model: str | None) -> None:
    with st.form("ai_translation"):
        text = st.text_area("Text", height=160)
        c1, c2 = st.columns(2)
        target = c1.text_input("Into", "French", max_chars=60)
        source = c2.text_input("From (optional)", "", max_chars=60)
        choice = when("translation")
        go = st.form_submit_button("Translate", type="primary")
    if go:
        if not text.strip() or not target.strip():
            st.warning("Give the text and the target language.")
        else:
            submit("translation", "translate_text", {"text": text, "target_language": target,
                                                     "source_language": source.strip() or None,
                                                     "provider": provider, "model": model},
                   f"Translation into {target} · {text[:30]}", provider, choice)
    jobs("translation")


def chat(provider: str, model: str | None) -> None:
    state = st.session_state.setdefault("ai_chat", {"messages": [], "pending": None})
    if state["pending"]:
        res = celery().AsyncResult(state["pending"])
        if res.state == "SUCCESS":
            state["messages"].append({"role": "assistant", "content": res.result["content"]})
            state["pending"] = None
        elif res.state in ("FAILURE", "REVOKED"):
            st.error(f"The last message got no answer: {res.result}. Send it again or start over.")
            state["pending"] = None
    for m in state["messages"]:
        with st.chat_message(m["role"]):
            st.text(m["content"])
    if state["pending"]:
        ai_task_panel(state["pending"], "Answer")
    if st.button("Start over", key="ai_chat_clear", disabled=not state["messages"]):
        state.update(messages=[], pending=None)
        st.rerun()
    text = st.chat_input("Message", key="ai_chat_input", disabled=bool(state["pending"]))
    if text and text.strip():
        conversation = state["messages"] + [{"role": "user", "content": text}]
        task_id = submit("chat", "chat_completion", {"messages": conversation, "provider": provider, "model": model},
                         "Chat", provider)
        if task_id:
            state.update(messages=conversation, pending=task_id)
            st.rerun()


def batch(provider: str, model: str | None) -> None:
    with st.form("ai_batch"):
        raw = st.text_area("One prompt per line, or a JSON list of requests", height=160,
                           help='JSON example: [{"type": "translation", "text": "Hi", "target_language": "German"}]')
        choice = when("batch")
        go = st.form_submit_button("Run batch", type="primary")
    if go:
        requests = _batch_requests(raw, provider, model)
        missing = sorted({str(r.get("provider")) for r in requests or []} - {provider})
        unconfigured = [p for p in missing if p in providers.PROVIDERS and not providers.is_configured(settings(), p)]
        if unconfigured:
            st.error(f"{', '.join(unconfigured)} is not configured: set {providers.KEY_SETTING[unconfigured[0]]}.")
        elif requests is not None:
            submit("batch", "batch_ai_requests", {"requests": requests}, f"Batch of {len(requests)}", provider,
                   choice)
    jobs("batch")


def _batch_requests(raw: str, provider: str, model: str | None) -> list[dict] | None:
    """The batch as request dicts (lines → completions with the chosen provider/model), or None after an error."""
    text = raw.strip()
    if not text:
        st.warning("Write at least one prompt.")
        return None
    if text.startswith("["):
        try:
            requests = json.loads(text)
        except ValueError as exc:
            st.error(f"The JSON list cannot be read: {exc}.")
            return None
        if not isinstance(requests, list) or not all(isinstance(r, dict) for r in requests):
            st.error("The JSON must be a list of objects, one per request.")
            return None
        return [{"provider": provider, **({"model": model} if model else {}), **r} for r in requests]
    limit = settings().AI_BATCH_MAX_REQUESTS
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) > limit:
        st.error(f"{len(lines)} prompts: the limit is {limit} per batch (AI_BATCH_MAX_REQUESTS).")
        return None
    return [{"type": "completion", "provider": provider, "model": model, "prompt": ln} for ln in lines]
