"""The one permission check, the audit stream, accounts, sign-in throttling and start-up refusals
(real Redis from conftest; no mocks)."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from app.access import Identity, Role, act, audit, authorize
from app.access import accounts, signin, startup
from app.access.roles import ACTIONS, UnknownAction, min_role
from app.errors import InvalidInput, PermissionDenied, SignInRefused
from app.monitor import actions
from app.store import keys
from config.settings import Settings, get_settings
from tests.conftest import ROOT


def _who(role: Role, name: str | None = None) -> Identity:
    return Identity(name or f"{role.label}-{uuid.uuid4().hex[:6]}", role, "10.1.2.3", "accounts")


def test_role_table_orders_and_fails_closed():
    assert min_role("purge") is Role.ADMIN and min_role("revoke") is Role.OPERATOR
    assert min_role("submit") is Role.OPERATOR and min_role("schedule_delete") is Role.ADMIN
    assert Role.VIEWER < Role.OPERATOR < Role.ADMIN
    assert all(r in (Role.OPERATOR, Role.ADMIN) for r in ACTIONS.values())  # viewers change nothing
    with pytest.raises(UnknownAction, match="ACTIONS"):
        min_role("drop_everything")
    with pytest.raises(TypeError):  # the table is read-only: nothing widens it at run time
        ACTIONS["drop_everything"] = Role.VIEWER  # type: ignore[index]
    with pytest.raises(InvalidInput):
        Role.parse("root")


def test_viewer_is_refused_and_the_refusal_is_audited(redis_client):
    viewer = _who(Role.VIEWER)
    with pytest.raises(PermissionDenied, match="needs the admin role") as exc:
        actions.purge_queue(redis_client, redis_client, "default_queue", viewer, ["default_queue"])
    assert exc.value.needed == "admin" and exc.value.role == "viewer"
    e = audit.read(redis_client, audit.AuditFilter(who=viewer.name), 5)[0]
    assert (e["action"], e["target"], e["outcome"], e["role"], e["client"], e["auth"]) == \
        ("purge", "default_queue", "denied", "viewer", "10.1.2.3", "accounts")


def test_operator_may_revoke_but_not_purge(celery_app, redis_client):
    op = _who(Role.OPERATOR)
    tid = str(uuid.uuid4())
    assert actions.revoke(celery_app, redis_client, tid, op)["ok"]
    with pytest.raises(PermissionDenied):
        actions.purge_queue(redis_client, redis_client, "default_queue", op, ["default_queue"])
    got = [(e["action"], e["outcome"]) for e in audit.read(redis_client, audit.AuditFilter(who=op.name))]
    assert got == [("purge", "denied"), ("revoke", "ok")]


def test_act_audits_refusals_failures_and_outcome_words(redis_client):
    admin = _who(Role.ADMIN)
    with pytest.raises(InvalidInput):
        with act(redis_client, admin, "purge", "q1"):
            raise InvalidInput("Unknown queue 'q1'.")
    with pytest.raises(ZeroDivisionError):
        with act(redis_client, admin, "purge", "q2") as a:
            a.detail["step"] = 1
            1 / 0
    with act(redis_client, admin, "rate_limit", "t", {"rate": "1/m"}) as a:
        a.outcome = "no worker replied"
    got = audit.read(redis_client, audit.AuditFilter(who=admin.name))
    assert [(e["target"], e["outcome"]) for e in got] == [("t", "no worker replied"), ("q2", "failed"), ("q1", "refused")]
    assert got[1]["detail"] == {"step": 1, "error": "ZeroDivisionError"}
    assert "Unknown queue" in got[2]["detail"]["error"]
    with pytest.raises(PermissionDenied):
        authorize(redis_client, None, "submit", "x")  # nobody signed in


def test_audit_is_a_capped_stream_with_filters_and_exports(redis_client, monkeypatch):
    monkeypatch.setattr(get_settings(), "AUDIT_MAX_ENTRIES", 100)
    who = _who(Role.ADMIN)
    for i in range(400):
        audit.record(redis_client, who, "submit", f"=cmd|{i}", "ok", {"i": i})
    assert redis_client.type(keys.AUDIT_LOG) == "stream"
    assert 100 <= audit.length(redis_client) < 400  # MAXLEN ~ trims whole nodes
    newest = audit.read(redis_client, audit.AuditFilter(who=who.name, text="|399"), 5)
    assert len(newest) == 1 and newest[0]["detail"] == {"i": 399}
    assert audit.read(redis_client, audit.AuditFilter(who=who.name, since=newest[0]["at"] + 60)) == []
    text = audit.to_csv(newest)
    assert text.splitlines()[0].startswith("id,at,who,role") and ",'=cmd|399," in text
    assert json.loads(audit.to_json(newest))[0]["target"] == "=cmd|399"


def test_startup_refuses_exposure_and_empty_password():
    def problems(**env):
        return " ".join(startup.problems(Settings(_env_file=None, **env)))
    assert problems() == ""
    assert "CONSOLE_ADDRESS=0.0.0.0" in problems(CONSOLE_ADDRESS="0.0.0.0") and "CONSOLE_AUTH" in problems(CONSOLE_ADDRESS="0.0.0.0")
    assert "METRICS_LOCAL_ONLY" in problems(METRICS_LOCAL_ONLY=False)
    assert "CONSOLE_PASSWORD is set but empty" in problems(CONSOLE_PASSWORD="")
    assert problems(CONSOLE_ADDRESS="0.0.0.0", CONSOLE_PASSWORD="s3cret-enough") == ""
    assert problems(CONSOLE_ADDRESS="0.0.0.0", CONSOLE_AUTH="accounts") == ""
    assert "PROXY_TRUSTED_ADDRESSES" in problems(CONSOLE_AUTH="proxy", ACCESS_ROLES={"admin": ["a@x"]})
    assert "ACCESS_ROLES" in problems(CONSOLE_AUTH="oidc", OIDC_SERVER_METADATA_URL="http://x", OIDC_CLIENT_ID="c",
                                      OIDC_CLIENT_SECRET="s")
    assert "not one of" in problems(CONSOLE_AUTH="kerberos")


def test_python_m_app_refuses_open_bind_without_sign_in(tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("CONSOLE_PASSWORD", "CONSOLE_AUTH")}
    env.update(CONSOLE_ADDRESS="0.0.0.0", DATA_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-m", "app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "Cannot start: CONSOLE_ADDRESS=0.0.0.0" in out.stderr and "CONSOLE_AUTH" in out.stderr
    env.update(CONSOLE_ADDRESS="127.0.0.1", CONSOLE_PASSWORD="")
    out = subprocess.run([sys.executable, "-m", "app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "CONSOLE_PASSWORD is set but empty" in out.stderr


def test_accounts_hash_verify_change_remove(redis_client):
    admin, viewer = _who(Role.ADMIN), _who(Role.VIEWER)
    name = f"ann-{uuid.uuid4().hex[:6]}"
    with pytest.raises(PermissionDenied):
        accounts.add(redis_client, viewer, name, "operator", "correct horse")
    acc = accounts.add(redis_client, admin, name, "operator", "correct horse")
    assert acc.role is Role.OPERATOR
    stored = json.loads(redis_client.hget(keys.USERS, name))
    assert stored["hash"].startswith("$argon2id$") and "correct horse" not in json.dumps(stored)
    assert accounts.verify(redis_client, name, "correct horse").role is Role.OPERATOR
    assert accounts.verify(redis_client, name, "wrong horse") is None
    assert accounts.verify(redis_client, "nobody-" + name, "correct horse") is None
    with pytest.raises(InvalidInput, match="exists"):
        accounts.add(redis_client, admin, name, "viewer", "another pass")
    with pytest.raises(InvalidInput, match="at least"):
        accounts.set_password(redis_client, admin, name, "short")
    accounts.set_password(redis_client, admin, name, "battery staple", role="admin")
    assert accounts.verify(redis_client, name, "battery staple").role is Role.ADMIN
    accounts.remove(redis_client, admin, name)
    assert accounts.get(redis_client, name) is None
    with pytest.raises(InvalidInput, match="No account"):
        accounts.remove(redis_client, admin, name)
    assert [e["action"] for e in audit.read(redis_client, audit.AuditFilter(text=name), 10)] == \
        ["user_remove", "user_remove", "user_passwd", "user_passwd", "user_add", "user_add", "user_add"]


def test_failed_sign_ins_are_throttled_per_account_and_audited(redis_client):
    s = get_settings().model_copy(update={"SIGNIN_MAX_FAILURES": 3, "SIGNIN_DELAY_BASE_S": 10.0})
    name = f"bob-{uuid.uuid4().hex[:6]}"
    accounts.add(redis_client, _who(Role.ADMIN), name, "viewer", "right password")
    addr = f"10.9.{uuid.uuid4().int % 250}.1"
    t0 = 1_000_000.0
    for i in range(3):
        with pytest.raises(SignInRefused, match="Wrong account name or password"):
            signin.sign_in_password(redis_client, s, name, "guess", addr, now=t0 + i)
    with pytest.raises(SignInRefused, match="try again in") as exc:  # even the right password waits
        signin.sign_in_password(redis_client, s, name, "right password", addr, now=t0 + 3)
    assert 8 <= exc.value.retry_after_s <= 10
    ident = signin.sign_in_password(redis_client, s, name, "right password", addr, now=t0 + 13)
    assert (ident.name, ident.role, ident.client_address, ident.auth_method) == (name, Role.VIEWER, addr, "accounts")
    got = [(e["action"], e["outcome"]) for e in audit.read(redis_client, audit.AuditFilter(text=name), 10)
           if e["action"].startswith("sign_in")]
    assert got == [("sign_in", "ok"), ("sign_in_failed", "throttled")] + [("sign_in_failed", "refused")] * 3


def test_failures_per_address_throttle_every_account_from_it(redis_client):
    s = get_settings().model_copy(update={"SIGNIN_MAX_FAILURES_PER_ADDRESS": 4})
    addr = f"10.8.{uuid.uuid4().int % 250}.2"
    for i in range(4):
        with pytest.raises(SignInRefused):
            signin.sign_in_password(redis_client, s, f"spray-{i}-{uuid.uuid4().hex[:4]}", "pw", addr, now=2e6)
    with pytest.raises(SignInRefused, match="try again"):
        signin.sign_in_password(redis_client, s, "someone-else", "pw", addr, now=2e6 + 0.5)


def test_shared_console_password_is_account_admin(redis_client):
    s = get_settings().model_copy(update={"CONSOLE_PASSWORD": __import__("pydantic").SecretStr("shared secret 1")})
    ident = signin.sign_in_password(redis_client, s, "admin", "shared secret 1", "10.7.0.1")
    assert ident.role is Role.ADMIN and ident.auth_method == "password"
    with pytest.raises(SignInRefused):
        signin.sign_in_password(redis_client, s, "admin", "", "10.7.0.1")


def test_role_for_allow_list():
    rules = {"admin": ["alice@example.com", "group:ops"], "operator": ["*@example.com"], "viewer": ["*@partner.org"]}
    assert signin.role_for(rules, "Alice@Example.com") is Role.ADMIN
    assert signin.role_for(rules, "bob@example.com") is Role.OPERATOR
    assert signin.role_for(rules, "bob@example.com", ["ops"]) is Role.ADMIN
    assert signin.role_for(rules, "eve@partner.org") is Role.VIEWER
    assert signin.role_for(rules, "mallory@evil.test") is None
    assert signin.role_for(rules, "", []) is None


def test_users_cli_reads_the_password_from_stdin_and_never_prints_it(redis_client, capsys):
    import io

    from app.access import cli

    name = f"cli-{uuid.uuid4().hex[:6]}"
    assert cli.main(["add", name, "--role", "operator"], stdin=io.StringIO("cli password 1\n")) == 0
    assert accounts.verify(redis_client, name, "cli password 1").role is Role.OPERATOR
    assert cli.main(["passwd", name, "--role", "viewer"], stdin=io.StringIO("cli password 2\n")) == 0
    assert accounts.verify(redis_client, name, "cli password 2").role is Role.VIEWER
    assert cli.main(["add", name, "--role", "viewer"], stdin=io.StringIO("x\n")) == 1  # exists / short
    assert cli.main(["passwd", name], stdin=io.StringIO("")) == 1  # no password on stdin: nothing changed
    assert accounts.verify(redis_client, name, "cli password 2") is not None
    assert cli.main(["list"]) == 0
    assert cli.main(["remove", name]) == 0 and accounts.get(redis_client, name) is None
    out = capsys.readouterr()
    assert f"{name}\tviewer" in out.out and "cli password" not in out.out + out.err
    assert "Refused:" in out.err
    assert audit.read(redis_client, audit.AuditFilter(text=name, action="user_add"), 1)[0]["auth"] == "cli"


def test_proxy_headers_are_believed_only_from_trusted_proxies(redis_client):
    s = get_settings().model_copy(update={"PROXY_TRUSTED_ADDRESSES": "10.20.0.0/16, 192.0.2.7",
                                          "ACCESS_ROLES": {"admin": ["group:ops"], "operator": ["*@example.com"]}})
    tag = uuid.uuid4().hex[:6]
    h = {"X-Forwarded-User": f"ann-{tag}", "X-Forwarded-Email": f"ann-{tag}@example.com",
         "X-Forwarded-For": "203.0.113.9, 198.51.100.4"}
    ident = signin.proxy_sign_in(redis_client, s, "10.20.3.4", h)
    assert (ident.name, ident.role, ident.client_address, ident.auth_method) == \
        (f"ann-{tag}", Role.OPERATOR, "198.51.100.4", "proxy")
    assert signin.proxy_sign_in(redis_client, s, "192.0.2.7", {**h, "X-Forwarded-Groups": "dev, ops"}).role is Role.ADMIN
    with pytest.raises(SignInRefused, match="reverse proxy"):  # the same headers straight from a client
        signin.proxy_sign_in(redis_client, s, "203.0.113.9", h)
    with pytest.raises(SignInRefused, match="not allowed"):
        signin.proxy_sign_in(redis_client, s, "10.20.3.4", {"X-Forwarded-Email": f"eve-{tag}@evil.test"})
    with pytest.raises(SignInRefused, match="no X-Forwarded-User"):
        signin.proxy_sign_in(redis_client, s, "10.20.3.4", {})
    got = [(e["outcome"], e["client"], e["detail"].get("reason")) for e in
           audit.read(redis_client, audit.AuditFilter(text=tag), 10)]
    assert ("refused", "203.0.113.9", "not from a trusted proxy") in got
    assert ("refused", "10.20.3.4", "not in ACCESS_ROLES") in got


def test_launcher_writes_the_oidc_secrets_file_for_st_login(tmp_path):
    import stat
    import tomllib

    from app.launcher import processes

    s = Settings(_env_file=None, DATA_DIR=tmp_path, CONSOLE_AUTH="oidc", OIDC_SERVER_METADATA_URL="http://idp/x",
                 OIDC_CLIENT_ID="cid", OIDC_CLIENT_SECRET="csecret", ACCESS_ROLES={"admin": ["a@x"]},
                 REDIS_EMBEDDED_PORT=processes.redis_server.free_port())
    p = processes.plan(s, explicit_redis=False)
    path = p.env["STREAMLIT_SECRETS_FILES"]
    assert stat.S_IMODE(__import__("os").stat(path).st_mode) == 0o600
    auth = tomllib.loads(open(path).read())["auth"]
    assert auth["client_secret"] == "csecret" and auth["server_metadata_url"] == "http://idp/x"
    assert auth["redirect_uri"].endswith("/oauth2callback") and len(auth["cookie_secret"]) >= 32
    assert "csecret" not in " ".join(p.notes) and "csecret" not in " ".join(p.processes.values())


def test_smtp_login_over_a_plain_connection_is_refused_unless_allowed():
    from pydantic import SecretStr

    from app.errors import NotConfigured
    from app.mail.smtp import SmtpConfig, connect

    cfg = SmtpConfig(host="127.0.0.1", port=1, sender="a@b.c", username="u", password=SecretStr("p"))
    with pytest.raises(NotConfigured, match="SMTP_ALLOW_PLAIN_AUTH"):
        with connect(cfg):
            pass
    s = Settings(_env_file=None, SMTP_HOST="mail.example", SMTP_USERNAME="u", SMTP_ALLOW_PLAIN_AUTH=True)
    assert SmtpConfig.from_settings(s).allow_plain_auth


def test_bulk_retry_resends_failed_and_revoked_only_after_a_dry_run(celery_app, celery_worker, redis_client):
    from app.store import history
    from app import runtime
    from tests.conftest import wait_for

    ok = celery_app.send_task("app.tasks.maintenance_tasks.health_check", queue="default_queue")
    ok.get(timeout=60)
    wait_for(lambda: runtime.get().writer.flush() or (history.get_task(redis_client, ok.id) or {}).get("state") == "SUCCESS",
             timeout_s=30)
    flt = history.TaskFilter(name="app.tasks.maintenance_tasks.health_check")
    preview = actions.bulk_preview(redis_client, flt, "retry", limit=50)
    assert preview["would_act"] < preview["matching"]  # SUCCESS ones are not re-sent
    out = actions.bulk(celery_app, redis_client, flt, "retry", _who(Role.ADMIN), limit=50)
    assert len(out["done"]) == preview["would_act"]
    assert {s["id"]: s["reason"] for s in out["skipped"]}[ok.id].endswith("bulk retry covers FAILURE and REVOKED only.")
    assert history.get_task(redis_client, ok.id).get("retried_as") is None


def test_every_csv_guards_formula_text_in_headers_and_cells(tmp_path):
    import openpyxl

    from app.documents import excel
    from app.reports import export

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["+total", "amount"])  # a header that a spreadsheet would run as a formula
    ws.append(["@SUM(1)", -5])
    src = tmp_path / "in.xlsx"
    wb.save(src)
    (tmp_path / "out").mkdir()
    book = excel.open_workbook(src)
    _, csv_file = excel._sheet_pass(book.worksheets[0], 0, tmp_path / "out", True)
    text = (tmp_path / "out" / csv_file).read_text()
    assert text.startswith("'+total,amount") and "'@SUM(1),-5" in text
    assert export._csv_cell("=1+1") == "'=1+1" and excel.csv_text("+cmd") == "'+cmd" and excel.csv_text(-5) == "-5"


def test_report_upload_preview_runs_the_zip_guard_and_reads_one_sheet(tmp_path):
    import zipfile

    import openpyxl

    from app.errors import FileTooLarge
    from app.documents.archive_guard import ZipLimits
    from app.reports import loading

    wb = openpyxl.Workbook()
    wb.active.append(["a", "b"])
    for i in range(500):
        wb.active.append([i, i * 2])
    other = wb.create_sheet("second")
    other.append(["only", "in", "second"])
    path = tmp_path / "data.xlsx"
    wb.save(path)
    head = loading.preview(path, rows=10, limits=ZipLimits(10_000, 1024 * 1024 * 1024, 100.0))
    assert list(head.columns) == ["a", "b"] and len(head) == 10
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf:  # a 20 MB run of zeros
        zf.writestr("xl/media/pad.bin", b"\0" * 20_000_000)
    with pytest.raises(FileTooLarge, match="zip bomb"):
        loading.preview(path, rows=10, limits=ZipLimits(10_000, 1024 * 1024 * 1024, 100.0))


def test_untrusted_text_is_shown_as_typed_in_markdown_elements():
    from app.ui.text import plain

    assert plain("**urgent** [click](http://x) `x` $1$ :red[y]") == \
        r"\*\*urgent\*\* \[click\](http://x) \`x\` \$1\$ :red\[y\]"
    assert plain("google-docs_no_docprops.docx") == "google-docs_no_docprops.docx"
