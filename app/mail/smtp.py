"""SMTP delivery with smtplib: plain SMTP, STARTTLS (SMTP_USE_TLS) or SMTPS (SMTP_USE_SSL), optional
AUTH, every socket operation bounded by SMTP_TIMEOUT_S.

Errors are sorted by what a retry can change (RFC 5321 §4.2.1: 4yz is "transient negative
completion", 5yz "permanent negative completion"):

- network failure, timeout, disconnect, 4xx reply → `ServiceUnavailable` / `DeliveryDeferred` (retry);
- 5xx reply, refused login → `DeliveryRefused` (fail at once);
- untrusted TLS certificate, STARTTLS not offered → `NotConfigured` (fail at once: fix the settings).

The password is read from the settings at connect time; it never appears in a message, repr or log.
"""
from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from app.errors import ConsoleError, DeliveryDeferred, DeliveryRefused, NotConfigured, ServiceUnavailable


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send. `password` is a SecretStr and is left out of the repr."""

    host: str
    port: int
    sender: str
    timeout_s: float = 30.0
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    use_tls: bool = False
    use_ssl: bool = False
    ca_file: Path | None = None
    is_sink: bool = False
    allow_plain_auth: bool = False

    @classmethod
    def from_settings(cls, s) -> "SmtpConfig":
        """SMTP_* settings; with no SMTP_HOST, the dev sink at SMTP_SINK_HOST:SMTP_SINK_PORT (plain, no auth)."""
        if not s.SMTP_HOST:
            return cls(host=s.SMTP_SINK_HOST, port=s.SMTP_SINK_PORT, sender=s.EMAIL_FROM,
                       timeout_s=s.SMTP_TIMEOUT_S, is_sink=True)
        return cls(host=s.SMTP_HOST, port=s.SMTP_PORT, sender=s.EMAIL_FROM, timeout_s=s.SMTP_TIMEOUT_S,
                   username=s.SMTP_USERNAME, password=s.SMTP_PASSWORD, use_tls=s.SMTP_USE_TLS,
                   use_ssl=s.SMTP_USE_SSL, ca_file=s.SMTP_CA_FILE,
                   allow_plain_auth=getattr(s, "SMTP_ALLOW_PLAIN_AUTH", False))

    def describe(self) -> str:
        """'host:port (SMTPS|STARTTLS|plain[, auth][, dev sink])' — safe to show and log."""
        mode = "SMTPS" if self.use_ssl else ("STARTTLS" if self.use_tls else "plain")
        extra = (", auth" if self.username else "") + (", dev sink" if self.is_sink else "")
        return f"{self.host}:{self.port} ({mode}{extra})"


def _reply(code: int, text) -> str:
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(text.split())}"


def by_code(code: int, text, what: str) -> ConsoleError:
    """`DeliveryDeferred` for a 4xx reply, `DeliveryRefused` for anything else, with a readable reason."""
    if 400 <= code < 500:
        return DeliveryDeferred(f"{what} deferred by the SMTP server ({_reply(code, text)}); retrying later.")
    return DeliveryRefused(f"{what} refused by the SMTP server ({_reply(code, text)}).")


def classify(exc: BaseException, cfg: SmtpConfig) -> ConsoleError:
    """Map an smtplib / socket / ssl error to the console's error tree (see the module docstring)."""
    where = cfg.describe()
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        if 400 <= exc.smtp_code < 500:
            return DeliveryDeferred(f"SMTP login deferred at {where} ({_reply(exc.smtp_code, exc.smtp_error)}).")
        return DeliveryRefused(f"SMTP login refused at {where} ({_reply(exc.smtp_code, exc.smtp_error)}): "
                               f"check SMTP_USERNAME and SMTP_PASSWORD.")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return NotConfigured(f"{where}: {exc}. Check SMTP_USE_TLS / SMTP_USE_SSL and the credentials.")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [c for c, _ in exc.recipients.values()]
        code, text = next(iter(exc.recipients.values())) if codes else (550, "refused")
        if codes and all(400 <= c < 500 for c in codes):
            return by_code(code, text, "Every recipient was")
        return by_code(max(codes or [550]), text, "Every recipient was")
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return by_code(exc.smtp_code, exc.smtp_error, f"Sender {exc.sender}")
    if isinstance(exc, smtplib.SMTPResponseException):
        return by_code(exc.smtp_code, exc.smtp_error, "The message was")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return NotConfigured(f"The TLS certificate of {where} is not trusted ({exc.verify_message}): "
                             f"set SMTP_CA_FILE to its CA bundle.")
    if isinstance(exc, ssl.SSLError):
        return ServiceUnavailable(f"TLS failed with {where}: {exc}. Check SMTP_USE_TLS / SMTP_USE_SSL and SMTP_PORT.")
    if isinstance(exc, (TimeoutError, smtplib.SMTPServerDisconnected)) and "timed out" in str(exc):
        return ServiceUnavailable(f"The SMTP server {where} did not answer within {cfg.timeout_s:g} s "
                                  f"(SMTP_TIMEOUT_S).")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return ServiceUnavailable(f"The SMTP server {where} closed the connection: {exc}.")
    if isinstance(exc, OSError):
        hint = " Is the dev mail sink running (`python -m app.mail.sink`)?" if cfg.is_sink else ""
        return ServiceUnavailable(f"Cannot reach the SMTP server {where}: {exc.strerror or exc}.{hint}")
    if isinstance(exc, smtplib.SMTPException):
        return ServiceUnavailable(f"SMTP error with {where}: {exc}")
    raise exc


@contextmanager
def connect(cfg: SmtpConfig) -> Iterator[smtplib.SMTP]:
    """An open, greeted (and if configured, TLS-wrapped and logged-in) SMTP connection; QUIT on exit.

    Raises:
        ServiceUnavailable / DeliveryDeferred: retryable failures (network, timeout, 4xx).
        DeliveryRefused / NotConfigured: final failures (5xx, login refused, certificate not trusted,
            or a login over a plain connection: the password would cross the network in clear; allowed
            only with SMTP_ALLOW_PLAIN_AUTH=true).
    """
    if cfg.username and not (cfg.use_tls or cfg.use_ssl) and not cfg.allow_plain_auth:
        raise NotConfigured(f"SMTP_USERNAME is set but {cfg.host}:{cfg.port} is a plain connection, so the "
                            f"password would be sent in clear: set SMTP_USE_TLS=true (STARTTLS) or "
                            f"SMTP_USE_SSL=true, or SMTP_ALLOW_PLAIN_AUTH=true to accept that.")
    conn: smtplib.SMTP | None = None
    try:
        context = ssl.create_default_context(cafile=str(cfg.ca_file) if cfg.ca_file else None)
        if cfg.use_ssl:
            conn = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout_s, context=context)
        else:
            conn = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s)
        conn.ehlo()
        if cfg.use_tls and not cfg.use_ssl:
            conn.starttls(context=context)
            conn.ehlo()
        if cfg.username:
            conn.login(cfg.username, cfg.password.get_secret_value() if cfg.password else "")
    except (smtplib.SMTPException, OSError) as exc:
        _close(conn)
        raise classify(exc, cfg) from None
    try:
        yield conn
    finally:
        _close(conn, polite=True)


def _close(conn: smtplib.SMTP | None, polite: bool = False) -> None:
    if conn is None:
        return
    try:
        if polite:
            conn.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        conn.close()


def send_bytes(conn: smtplib.SMTP, cfg: SmtpConfig, sender: str, recipients: Sequence[str],
               data: bytes) -> dict[str, str]:
    """Send `data` to `recipients`; returns the refused ones ``{address: 'code text'}`` (others accepted).

    Raises:
        DeliveryDeferred / DeliveryRefused: every recipient refused (4xx / 5xx), the sender or the
            message refused.
        ServiceUnavailable: the connection failed or timed out.
    """
    try:
        refused = conn.sendmail(sender, list(recipients), data)
    except (smtplib.SMTPException, OSError) as exc:
        raise classify(exc, cfg) from None
    return {addr: _reply(code, text) for addr, (code, text) in refused.items()}
