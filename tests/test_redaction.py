"""Secrets are masked in what the history stores; token counts are not secrets."""
from app.telemetry.redaction import REDACTED, redact, to_text


def test_secret_keys_masked_at_any_depth_and_counts_kept():
    value = {"password": "p", "smtp": {"api_key": "k", "Authorization": "Bearer x"},
             "items": [{"access_token": "t"}], "usage": {"input_tokens": 12, "output_tokens": 3},
             "max_tokens": 100, "subject": "hello"}
    out = redact(value)
    assert out["password"] == out["smtp"]["api_key"] == out["smtp"]["Authorization"] == REDACTED
    assert out["items"][0]["access_token"] == REDACTED
    assert out["usage"] == {"input_tokens": 12, "output_tokens": 3} and out["max_tokens"] == 100
    assert out["subject"] == "hello"
    text = to_text(value)
    assert "Bearer" not in text and '"p"' not in text and "12" in text


def test_to_text_cuts_long_values():
    assert len(to_text("x" * 10_000, limit=100)) == 100
