"""A local HTTP server speaking the Anthropic Messages API and the OpenAI Chat Completions API.

The real SDKs are pointed at it by ANTHROPIC_BASE_URL / OPENAI_BASE_URL; nothing is patched. It
answers JSON or SSE streams (``"stream": true``), checks the API key like the real services
(a wrong key gets a 401 whose message echoes the key it was sent, as OpenAI's does), and is
scripted per test: ``fake_ai.push(dict(status=429, retry_after=0.2), dict())`` makes the next
request get a 429 with Retry-After and the one after it a normal answer; ``fake_ai.default``
is the step used once the script is empty (e.g. ``dict(status=500)`` for "500 forever"), and
``fake_ai.router(api, body)`` may pick a step by the request's content (concurrent batches).

Step keys: status (200), retry_after (seconds, header), delay_s (before the headers: a slow
server), text (the answer; else `fake_ai.responder(api, body)`), message (error message),
piece_delay_s (between streamed pieces).
"""
from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

ANTHROPIC_KEY = "sk-ant-test-0123456789abcdef"
OPENAI_KEY = "sk-openai-test-0123456789abcdef"
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}


def pytest_configure(config):
    # The AI tasks' 10/m rate limit spaces AI tasks 6 s apart per worker (Celery's token bucket
    # holds one token); the tests run many, so they switch it off before the task module loads.
    os.environ["AI_RATE_LIMIT"] = ""


def default_responder(api: str, body: dict) -> str:
    """The answer when a step gives no text: the last user message, quoted back with its size."""
    last = body["messages"][-1]["content"]
    text = last if isinstance(last, str) else " ".join(b.get("text", "") for b in last)
    return f"Answer to {len(text)} characters: {text[:60]}"


def words(value) -> int:
    """Token counts the fake reports: whitespace-separated words."""
    return len(str(value).split())


class FakeAI:
    """The server's script, its recorded requests and its URL."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def reset(self):
        with self.lock:
            self.script: list[dict] = []
            self.default: dict = {}
            self.requests: list[dict] = []
            self.responder = default_responder
            self.router = None  # (api, body) -> step or None: a step chosen by content, not order

    def push(self, *steps: dict) -> None:
        with self.lock:
            self.script.extend(steps)

    def next_step(self, record: dict) -> dict:
        with self.lock:
            self.requests.append(record)
            record["n"], record["t"] = len(self.requests), time.monotonic()
            routed = self.router(record["api"], record["body"]) if self.router else None
            if routed is not None:
                return dict(routed)
            return dict(self.script.pop(0) if self.script else self.default)

    def count(self, api: str | None = None) -> int:
        with self.lock:
            return sum(1 for r in self.requests if api in (None, r["api"]))


def _handler(fake: FakeAI):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
            if self.path.endswith("/v1/messages"):
                # The SDK sends the key as "Authorization: Bearer"; older clients as x-api-key.
                api = "anthropic"
                given = self.headers.get("x-api-key") or self.headers.get("authorization", "").removeprefix("Bearer ")
                key_ok = given == ANTHROPIC_KEY
            elif self.path.endswith("/v1/chat/completions"):
                api, given = "openai", self.headers.get("authorization", "").removeprefix("Bearer ")
                key_ok = given == OPENAI_KEY
            else:
                self._json(404, {"error": {"type": "not_found_error", "message": f"no route {self.path}"}})
                return
            step = fake.next_step({"api": api, "body": body, "path": self.path,
                                   "retry_count": self.headers.get("x-stainless-retry-count")})
            time.sleep(step.get("delay_s", 0))
            status = step.get("status", 200)
            if not key_ok:
                status, step["message"] = 401, f"Incorrect API key provided: {given}"
            try:
                if status != 200:
                    self._error(api, status, step)
                elif body.get("stream"):
                    self._stream(api, body, step)
                else:
                    self._answer(api, body, step)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

        def _json(self, status, payload, headers=None):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _ids(self, api):
            n = fake.count()
            return {"request-id" if api == "anthropic" else "x-request-id": f"req_{api}_{n}"}

        def _error(self, api, status, step):
            message = step.get("message") or f"scripted HTTP {status}"
            kind = ERROR_TYPES.get(status, "api_error")
            payload = ({"type": "error", "error": {"type": kind, "message": message}} if api == "anthropic"
                       else {"error": {"message": message, "type": kind, "code": None}})
            headers = self._ids(api)
            if step.get("retry_after") is not None:
                headers["retry-after"] = str(step["retry_after"])
            self._json(status, payload, headers)

        def _usage(self, body, text):
            prompt = " ".join(str(m.get("content")) for m in body["messages"]) + " " + str(body.get("system") or "")
            return words(prompt), words(text)

        def _answer(self, api, body, step):
            text = step.get("text", fake.responder(api, body))
            inp, out = self._usage(body, text)
            if api == "anthropic":
                payload = {"id": "msg_fake", "type": "message", "role": "assistant", "model": body["model"],
                           "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                           "stop_sequence": None, "usage": {"input_tokens": inp, "output_tokens": out}}
            else:
                payload = {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                           "model": body["model"], "choices": [{"index": 0, "message": {"role": "assistant",
                           "content": text}, "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out}}
            self._json(200, payload, self._ids(api))

        def _stream(self, api, body, step):
            text = step.get("text", fake.responder(api, body))
            inp, out = self._usage(body, text)
            pieces = [p + " " for p in text.split(" ")]
            pieces[-1] = pieces[-1][:-1]
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            for k, v in self._ids(api).items():
                self.send_header(k, v)
            self.end_headers()

            def event(data, name=None):
                line = (f"event: {name}\n" if name else "") + f"data: {json.dumps(data)}\n\n"
                self.wfile.write(line.encode())
                self.wfile.flush()

            if api == "anthropic":
                event({"type": "message_start", "message": {"id": "msg_fake", "type": "message", "role": "assistant",
                       "model": body["model"], "content": [], "stop_reason": None, "stop_sequence": None,
                       "usage": {"input_tokens": inp, "output_tokens": 1}}}, "message_start")
                event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                      "content_block_start")
                for piece in pieces:
                    event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
                          "content_block_delta")
                    time.sleep(step.get("piece_delay_s", 0))
                event({"type": "content_block_stop", "index": 0}, "content_block_stop")
                event({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                       "usage": {"output_tokens": out}}, "message_delta")
                event({"type": "message_stop"}, "message_stop")
                return
            base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": body["model"]}
            for piece in pieces:
                event({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
                time.sleep(step.get("piece_delay_s", 0))
            event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            if (body.get("stream_options") or {}).get("include_usage"):
                event({**base, "choices": [], "usage": {"prompt_tokens": inp, "completion_tokens": out,
                                                        "total_tokens": inp + out}})
            self.wfile.write(b"data: [DONE]\n\n")

    return Handler


@pytest.fixture(scope="session")
def _fake_ai_server():
    server = FakeAI()
    yield server
    server.httpd.shutdown()


@pytest.fixture()
def fake_ai(_fake_ai_server, monkeypatch):
    """The fake AI server, with both providers' keys and base URLs set for this test.

    Settings are re-read (get_settings.cache_clear) so the test and the worker thread see them;
    `fake_ai.setenv(name, value)` / `fake_ai.delenv(name)` change one more setting the same way.
    Short retry countdowns and timeouts keep the retry tests to seconds.
    """
    from config.settings import get_settings

    server = _fake_ai_server
    server.reset()

    def setenv(name, value):
        monkeypatch.setenv(name, str(value))
        get_settings.cache_clear()

    def delenv(name):
        monkeypatch.delenv(name, raising=False)
        get_settings.cache_clear()

    server.setenv, server.delenv = setenv, delenv
    for name, value in {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
                        "OPENAI_BASE_URL": f"{server.url}/v1", "OPENAI_API_KEY": OPENAI_KEY,
                        "AI_RETRY_COUNTDOWN_S": "0.05", "AI_SDK_MAX_RETRIES": "1",
                        "AI_REQUEST_TIMEOUT_S": "5", "AI_STREAM_UPDATE_S": "0.05",
                        "AI_MAX_RETRY_AFTER_S": "2"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield server
    monkeypatch.undo()
    get_settings.cache_clear()
    server.reset()
