"""Schedule specs without Redis or beat: parsing with the field named, JSON arguments, previews."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from app.errors import InvalidInput
from app.schedules import schedule_spec


@pytest.mark.parametrize("spec, words", [
    ({"type": "crontab", "minute": "61"}, "minute '61'"),
    ({"type": "crontab", "minute": "0", "hour": "25"}, "hour '25'"),
    ({"type": "crontab", "day_of_week": "mon-funday"}, "day of week 'mon-funday'"),
    ({"type": "crontab", "minute": "*/0"}, "minute '*/0'"),
    ({"type": "crontab", "minute": ""}, "minute ''"),
    ({"type": "crontab", "month_of_year": "13"}, "month '13'"),
    ({"type": "crontab", "hour": "1;rm"}, "hour '1;rm'"),
    ({"type": "interval", "every_s": 0}, "between 1 s"),
    ({"type": "interval"}, "every_s"),
    ({"type": "weekly"}, "Unknown schedule type"),
    ("every minute", "must be a dict"),
])
def test_invalid_schedule_is_refused_with_the_field_named(spec, words):
    with pytest.raises(InvalidInput, match=words.replace("*", r"\*")):
        schedule_spec.parse_schedule(spec)


@pytest.mark.parametrize("name", ["", " ", ":schedule", "a" * 81, "x/y"])
def test_bad_entry_names_are_refused(name):
    with pytest.raises(InvalidInput, match="entry name"):
        schedule_spec.validate_name(name)


def test_arguments_must_be_json_values():
    assert schedule_spec.check_arguments(None, None) == ([], {})
    assert schedule_spec.check_arguments((1, "a"), {"k": [1]}) == ([1, "a"], {"k": [1]})
    with pytest.raises(InvalidInput, match="JSON values"):
        schedule_spec.check_arguments([{1, 2}], {})
    with pytest.raises(InvalidInput, match="names must be strings"):
        schedule_spec.check_arguments([], {1: "x"})


@pytest.mark.parametrize("spec, line, words", [
    ({"type": "interval", "every_s": 300}, "*/5 * * * *", "Every 5 minutes"),
    ({"type": "interval", "every_s": 7200}, "0 */2 * * *", "Every 2 hours"),
    ({"type": "interval", "every_s": 90}, None, "Every 90 seconds"),
    ({"type": "crontab", "minute": "0", "hour": "3"}, "0 3 * * *", "03:00"),
])
def test_crontab_line_and_words(spec, line, words):
    assert schedule_spec.crontab_line(spec) == line
    assert words in schedule_spec.describe(spec)


@pytest.mark.parametrize("text, parse, words", [
    ("[1, 2", schedule_spec.parse_json_args, "not valid JSON"),
    ('{"a": 1}', schedule_spec.parse_json_args, "JSON list"),
    ("[1]", schedule_spec.parse_json_kwargs, "JSON object"),
])
def test_json_arguments_are_validated(text, parse, words):
    with pytest.raises(InvalidInput, match=words):
        parse(text)


def _matches(spec: dict, local: datetime) -> bool:
    """Independent crontab matcher for plain numeric fields ('*', 'n', '*/k', 'a,b')."""
    def ok(expr: str, value: int) -> bool:
        if expr == "*":
            return True
        if expr.startswith("*/"):
            return value % int(expr[2:]) == 0
        return value in {int(x) for x in expr.split(",")}
    return (ok(spec.get("minute", "*"), local.minute) and ok(spec.get("hour", "*"), local.hour)
            and ok(spec.get("day_of_month", "*"), local.day)
            and ok(spec.get("month_of_year", "*"), local.month)
            and ok(spec.get("day_of_week", "*"), (local.weekday() + 1) % 7))


@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris", "Asia/Kolkata", "America/New_York"])
@pytest.mark.parametrize("spec", [
    {"type": "crontab", "minute": "0", "hour": "*/2"},
    {"type": "crontab", "minute": "15,45", "hour": "9", "day_of_week": "1"},
    {"type": "crontab", "minute": "*/20"},
])
def test_preview_matches_a_minute_by_minute_enumeration(spec, tz):
    now = datetime(2026, 6, 10, 7, 31, 12, tzinfo=timezone.utc)
    runs = schedule_spec.preview_next_runs(spec, 5, tz, now=now)
    assert all(r.tzinfo == ZoneInfo(tz) for r in runs)
    expected, t = [], now.replace(second=0) + timedelta(minutes=1)
    while len(expected) < 5:
        if _matches(spec, t.astimezone(ZoneInfo(tz))):
            expected.append(t)
        t += timedelta(minutes=1)
    assert runs == expected


def test_preview_interval_and_bad_timezone():
    now = datetime(2026, 6, 10, 7, 0, tzinfo=timezone.utc)
    runs = schedule_spec.preview_next_runs({"type": "interval", "every_s": 90}, 3, "Asia/Tokyo", now=now)
    assert [r - now for r in runs] == [timedelta(seconds=90 * k) for k in (1, 2, 3)]
    with pytest.raises(InvalidInput, match="Unknown timezone"):
        schedule_spec.preview_next_runs({"type": "interval", "every_s": 90}, 3, "Mars/Olympus")
