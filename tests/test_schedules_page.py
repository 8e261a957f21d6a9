"""AppTest for the Schedules page against real Redis; entries read back with plain Redis commands."""
from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from app import schedules
from config.celery_config import celery_app
from tests.conftest import ROOT

HEALTH = "app.tasks.maintenance_tasks.health_check"
pytestmark = pytest.mark.usefixtures("celery_worker")  # "Run now" sends a real task


@pytest.fixture(autouse=True)
def no_entries():
    for e in schedules.list_entries(celery_app):
        schedules.delete_entry(celery_app, e.name)
    yield
    for e in schedules.list_entries(celery_app):
        schedules.delete_entry(celery_app, e.name)


def page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "schedules.py"), default_timeout=30).run()
    assert not at.exception, at.exception
    return at


def button(at: AppTest, key: str):
    return next(b for b in at.button if b.key == key)


def definition(redis_client, name: str) -> dict | None:
    raw = redis_client.hget(f"redbeat:{name}", "definition")
    return json.loads(raw) if raw else None


def test_create_crontab_entry_with_preview(redis_client):
    at = page()
    at.text_input(key="sch_name").input("two-hourly health")
    at.selectbox(key="sch_task").select(HEALTH)
    at.radio(key="sch_type").set_value("Crontab").run()
    at.text_input(key="sch_minute").input("0")
    at.text_input(key="sch_hour").input("*/2").run()
    assert not at.exception
    preview = next(df.value for df in at.dataframe if any("next runs" in c for c in df.value.columns))
    assert len(preview) == 5
    assert any("Every 2 hours" in md.value for md in at.markdown)
    at.text_area(key="sch_args").input("[]")
    at.selectbox(key="sch_queue").select("default_queue")
    button(at, "sch_save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    d = definition(redis_client, "two-hourly health")
    assert d["task"] == HEALTH and d["options"] == {"queue": "default_queue",
                                                    "headers": {"cc_schedule": "two-hourly health"}}
    assert (d["schedule"]["minute"], d["schedule"]["hour"]) == ("0", "*/2")
    table = at.dataframe[0].value
    row = table[table["name"] == "two-hourly health"].iloc[0]
    assert row["crontab"] == "0 */2 * * *" and row["enabled"] and row["last run"] == "never"
    assert any("saved" in s.value for s in at.success)


def test_invalid_crontab_and_bad_json_are_refused(redis_client):
    at = page()
    at.text_input(key="sch_name").input("broken")
    at.radio(key="sch_type").set_value("Crontab").run()
    at.text_input(key="sch_minute").input("61").run()
    assert any("minute '61' is not valid" in e.value for e in at.error)
    button(at, "sch_save").click().run()
    assert not at.exception
    assert definition(redis_client, "broken") is None

    at.text_input(key="sch_minute").input("5")
    at.text_area(key="sch_args").input('["unclosed"').run()
    button(at, "sch_save").click().run()
    assert any("not valid JSON" in e.value for e in at.error)
    assert definition(redis_client, "broken") is None


def test_toggle_run_now_edit_and_delete(redis_client):
    schedules.save_entry(celery_app, "hc", HEALTH, {"type": "interval", "every_s": 300})
    at = page()
    at.selectbox(key="sch_pick").select("hc").run()
    button(at, "sch_toggle").click().run()
    assert not at.exception
    assert definition(redis_client, "hc")["enabled"] is False
    assert button(at, "sch_toggle").label == "Enable"
    button(at, "sch_toggle").click().run()
    assert definition(redis_client, "hc")["enabled"] is True

    button(at, "sch_run").click().run()
    assert any("sent now: task" in s.value for s in at.success)

    button(at, "sch_edit").click().run()
    assert at.text_input(key="sch_name").value == "hc" and at.number_input(key="sch_every").value == 5
    at.number_input(key="sch_every").set_value(10)
    button(at, "sch_save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert definition(redis_client, "hc")["schedule"]["every"] == 600

    assert button(at, "sch_delete").disabled
    at.checkbox(key="sch_confirm_delete").check().run()
    button(at, "sch_delete").click().run()
    assert not at.exception
    assert definition(redis_client, "hc") is None
    assert redis_client.zscore("redbeat::schedule", "redbeat:hc") is None


def test_create_refuses_an_existing_name(redis_client):
    schedules.save_entry(celery_app, "taken", HEALTH, {"type": "interval", "every_s": 300})
    at = page()
    at.text_input(key="sch_name").input("taken")
    at.number_input(key="sch_every").set_value(1)
    at.selectbox(key="sch_unit").select("hours")
    button(at, "sch_save").click().run()
    assert any("exists" in e.value for e in at.error)
    assert definition(redis_client, "taken")["schedule"]["every"] == 300


def test_run_now_shows_as_last_run_and_the_picker_keeps_a_new_entry(redis_client):
    from app.store import history
    from tests.conftest import wait_for

    for name in ("a first", "z second"):
        schedules.save_entry(celery_app, name, HEALTH, {"type": "interval", "every_s": 3600})
    at = page()
    at.text_input(key="sch_name").input("m new")
    at.selectbox(key="sch_task").select(HEALTH)
    button(at, "sch_save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="sch_pick").value == "m new"  # not back to the first entry
    row = lambda at_: at_.dataframe[0].value.set_index("name").loc["m new"]  # noqa: E731
    assert row(at)["last run"] == "never"
    button(at, "sch_run").click().run()
    task_id = next(s.value for s in at.success if "sent now" in s.value).rsplit(" ", 1)[-1]
    wait_for(lambda: (history.get_task(redis_client, task_id) or {}).get("sent_at"))
    at.run()
    assert not at.exception
    assert row(at)["last run"] != "never" and at.selectbox(key="sch_pick").value == "m new"
