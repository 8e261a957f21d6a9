"""Pure parts of the mail services: address and CSV parsing, templates, send-time checks, backoff,
the sandboxed HTML preview. No fixtures needed."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest

from app.errors import InvalidInput
from app.mail import addresses, backoff, scheduling, templates


def test_recipient_rows_from_pasted_list_and_csv():
    rows = addresses.parse_recipient_rows("a@example.com\nb@example.com, c@example.com; d@example.com")
    assert [r["email"] for r in rows] == ["a@example.com", "b@example.com", "c@example.com", "d@example.com"]
    rows = addresses.parse_recipient_rows("\ufeffEmail;Name;Team\nann@example.com;Ann;Ops\n\nbob@example.com;Bob;Dev\n")
    assert rows == [{"email": "ann@example.com", "context": {"Name": "Ann", "Team": "Ops"}},
                    {"email": "bob@example.com", "context": {"Name": "Bob", "Team": "Dev"}}]
    checked = addresses.check_recipient_rows(rows + ["ANN@example.com"], limit=10)
    assert len(checked) == 3  # local parts are case-sensitive; domains are normalized
    with pytest.raises(InvalidInput, match="EMAIL_MAX_RECIPIENTS"):
        addresses.check_recipient_rows([f"u{i}@example.com" for i in range(4)], limit=3)
    with pytest.raises(InvalidInput, match="empty"):
        addresses.parse_recipient_rows("  \n")


def test_addresses_normalized_and_special_use_domains_refused():
    assert addresses.check_address("Ann@EXAMPLE.com") == "Ann@example.com"
    assert addresses.check_addresses("a@example.com, a@example.com;b@example.com", "To") == ["a@example.com", "b@example.com"]
    for bad in ("me@localhost", "x@host.test", "two@@example.com", "plain"):
        with pytest.raises(InvalidInput, match="not a valid email address"):
            addresses.check_address(bad)


def test_templates_autoescape_html_and_sandbox_operator_templates():
    r = templates.render_notification("welcome", {"name": "<b>Ann</b>"})
    assert r.subject == "Welcome, <b>Ann</b>" and "Hello <b>Ann</b>" in r.text
    assert "&lt;b&gt;Ann&lt;/b&gt;" in r.html
    assert templates.context_keys("report_ready") == (["report_name"], ["report_url"])
    bulk = templates.compile_bulk("Hi {{ name }}", "Body {{ name }}", "<i>{{ name }}</i>")
    assert bulk.render({"name": "<x>"}).html == "<i>&lt;x&gt;</i>"
    with pytest.raises(InvalidInput, match="unsafe"):
        templates.compile_bulk("{{ ''.__class__.__mro__ }}", "x", None).render({})
    # A line break that a row's value brings into the subject is folded away, never a new header.
    subject = templates.compile_bulk("Hi {{ s }}", "x", None).render({"s": "a\r\nBcc: v@example.com"}).subject
    assert subject == "Hi a Bcc: v@example.com"


def test_send_time_window():
    now = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
    assert scheduling.check_send_at("2030-01-01T13:00:00", 43_200, now=now) == now + timedelta(hours=1)
    assert scheduling.check_send_at("2030-01-01T14:00:00+01:00", 43_200, now=now) == now + timedelta(hours=1)
    with pytest.raises(InvalidInput, match="VISIBILITY_TIMEOUT_S"):
        scheduling.check_send_at(now + timedelta(seconds=43_200), 43_200, now=now)
    with pytest.raises(InvalidInput, match="in the past"):
        scheduling.check_send_at(now - timedelta(minutes=5), 43_200, now=now)
    with pytest.raises(InvalidInput, match="ISO 8601"):
        scheduling.check_send_at("tomorrow", 43_200, now=now)


def test_backoff_is_exponential_with_equal_jitter():
    rng = random.Random(7)
    for retries, (low, high) in enumerate([(30, 60), (60, 120), (120, 240), (240, 480), (300, 600)]):
        values = [backoff.countdown_s(retries, 60, 600, rng) for _ in range(200)]
        assert low <= min(values) and max(values) <= high
        assert max(values) - min(values) > (high - low) / 2  # actually jittered


def test_sandboxed_preview_never_exposes_raw_markup():
    from app.ui.email_outbox import sandboxed_html

    wrapper = sandboxed_html('<script>alert("x")</script><img src="http://tracker.example/p.gif">')

    class Tags(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags = []

        def handle_starttag(self, tag, attrs):
            self.tags.append((tag, dict(attrs)))

    parser = Tags()
    parser.feed(wrapper)
    assert [t for t, _ in parser.tags] == ["iframe"]
    attrs = parser.tags[0][1]
    assert attrs["sandbox"] == ""
    assert "<script>" in attrs["srcdoc"] and "default-src 'none'" in attrs["srcdoc"]
