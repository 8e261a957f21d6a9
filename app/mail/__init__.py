"""Email: message building, address checks, SMTP delivery, templates, the dev sink and its Outbox.

Modules, in the order a send goes through them:

- `addresses` — address validation (email-validator), CR/LF header checks, recipient caps.
- `templates` — Jinja2 notification templates (text + HTML, autoescape) and per-row bulk templates.
- `message`   — building one `email.message.EmailMessage` (text + HTML alternative, attachments).
- `smtp`      — connection settings, opening SMTP / STARTTLS / SMTPS with auth and a timeout, sending,
                and sorting SMTP errors into retryable (4xx, network) and final (5xx).
- `delivery`  — the operations the tasks call: send one message, send a bulk run idempotently.
- `sentlog`   — the Redis record of who was already sent (idempotent retries).
- `scheduling`— checking a scheduled time against the visibility timeout; cancel markers.
- `backoff`   — retry countdowns (exponential, with jitter).
- `sink`      — the dev SMTP server (aiosmtpd) that stores every message under DATA_DIR/outbox.
- `outbox`    — reading what the sink stored.

No celery or streamlit imports here: tasks and pages call these functions.
"""
