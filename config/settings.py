"""Every setting of the console, read once from the environment and `.env`.

Names carry their units (`_S` seconds, `_MB` megabytes). Secrets are `SecretStr` so they never
print in logs or reprs; code that needs the value calls `.get_secret_value()` at the point of use.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """The console's settings; environment variables win over `.env`."""

    # hide_input_in_errors: a rejected secret (a webhook URL with a token) never prints in the error.
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      hide_input_in_errors=True)

    REDIS_URL: str = "redis://127.0.0.1:6379/0"
    CELERY_BROKER_URL: str | None = None
    CELERY_RESULT_BACKEND: str | None = None
    # RabbitMQ: the management HTTP API (e.g. http://user:pass@rabbit:15672) for unacked
    # counts and message ages when CELERY_BROKER_URL is amqp://; unset, the monitor uses AMQP alone.
    RABBITMQ_MANAGEMENT_URL: SecretStr | None = None
    #: x-max-priority of every queue (RabbitMQ needs it declared; the same on every declaration).
    QUEUE_MAX_PRIORITY: int = Field(default=10, ge=1, le=255)
    DATA_DIR: Path = Path("./var")
    # File storage: "local" = DATA_DIR (uploads and outputs on this disk), or "s3" = an
    # S3-compatible bucket shared by console and workers on any host (app.files.filestore).
    FILE_STORE: Literal["local", "s3"] = "local"
    S3_BUCKET: str | None = None
    S3_PREFIX: str = ""
    S3_ENDPOINT_URL: str | None = None
    S3_REGION: str = "us-east-1"
    S3_ACCESS_KEY_ID: str | None = None
    S3_SECRET_ACCESS_KEY: SecretStr | None = None
    REDIS_EMBEDDED_PORT: int = 6399
    PORT: int = 8501

    SMTP_HOST: str | None = None
    SMTP_PORT: int = 25
    SMTP_USERNAME: str | None = None
    SMTP_PASSWORD: SecretStr | None = None
    SMTP_USE_TLS: bool = False
    SMTP_USE_SSL: bool = False
    SMTP_TIMEOUT_S: float = 30.0
    EMAIL_FROM: str = "console@localhost"

    ANTHROPIC_API_KEY: SecretStr | None = None
    ANTHROPIC_BASE_URL: str | None = None
    OPENAI_API_KEY: SecretStr | None = None
    OPENAI_BASE_URL: str | None = None

    CONSOLE_PASSWORD: SecretStr | None = None
    MAX_UPLOAD_MB: int = Field(default=50, ge=1)

    # Celery / monitor tuning.
    TIMEZONE: str = "UTC"
    RESULT_EXPIRES_S: int = 86_400
    VISIBILITY_TIMEOUT_S: int = 43_200
    HISTORY_RETENTION_S: int = 7 * 86_400
    HISTORY_MAX_TASKS: int = 1_000_000
    WORKER_HEARTBEAT_S: float = 2.0
    WORKER_OFFLINE_AFTER_S: float = 10.0
    # Monitor: the Prometheus endpoint.
    METRICS_PORT: int = 9808
    METRICS_LOCAL_ONLY: bool = True
    # HTTP API (`python -m app.api`): port and bind address (loopback unless sign-in is configured,
    # as the console), requests per token (or Basic-auth account) per fixed 60 s window, and the
    # most tasks one Flower-compatible /api/tasks call returns (Flower keeps 10,000 in memory).
    API_PORT: int = 5556
    API_ADDRESS: str = "127.0.0.1"
    API_RATE_LIMIT_PER_MIN: int = Field(default=600, ge=1)
    API_TASKS_MAX: int = Field(default=10_000, ge=1)
    # Celery-event ingester: the broker whose events fill the history (default: the
    # console's own broker), queue names to measure depth for (comma-separated; queues seen in
    # events or active_queues replies are added), and whether to broadcast enable_events to running
    # workers at start and every 30 s (as Flower does).
    MONITOR_BROKER_URL: str | None = None
    MONITOR_QUEUES: str = "email_queue,file_processing_queue,ai_queue,reports_queue,default_queue"
    MONITOR_ENABLE_EVENTS: bool = True
    # Further Celery apps to monitor, "name=broker_url[|result_backend_url][|queue,queue];..." or a
    # JSON list (syntax and checks: app.monitor.apps).
    MONITOR_APPS: str = ""

    # Beat and maintenance: beat tick cap, retentions of failed-task leftovers, outputs
    # (archived after; keep below FILE_RETENTION_S, when cleanup_temp_files deletes them), and the
    # queue-depth series the monitor charts.
    BEAT_MAX_LOOP_INTERVAL_S: float = Field(default=5.0, gt=0)
    FAILED_TASK_RETENTION_S: int = Field(default=86_400, ge=0)
    OUTPUT_RETENTION_S: int = Field(default=43_200, ge=0)
    QUEUE_DEPTH_RETENTION_S: int = Field(default=2 * 86_400, ge=60)

    # Reports: inline records cap, rows read from a stored file, export chunk size.
    REPORT_MAX_INLINE_RECORDS: int = Field(default=5_000, ge=1)
    REPORT_MAX_ROWS: int = Field(default=1_000_000, ge=1)
    REPORT_TABLE_ROWS_MAX: int = Field(default=200, ge=1)
    EXPORT_CHUNK_ROWS: int = Field(default=10_000, ge=100)
    REPORT_AI_PROVIDER: str = "anthropic"

    # Email: dev sink, caps, retry countdown (60 s, backoff), TLS trust.
    SMTP_SINK_HOST: str = "127.0.0.1"
    SMTP_SINK_PORT: int = 8025
    SMTP_CA_FILE: Path | None = None
    SMTP_ALLOW_PLAIN_AUTH: bool = False  # SMTP AUTH over an unencrypted connection
    EMAIL_MAX_RECIPIENTS: int = Field(default=1_000, ge=1)
    EMAIL_MAX_ATTACHMENT_MB: int = Field(default=10, ge=1)
    EMAIL_BATCH_SIZE: int = Field(default=20, ge=1)
    EMAIL_RETRY_COUNTDOWN_S: float = Field(default=60.0, ge=0)
    EMAIL_RETRY_BACKOFF_MAX_S: float = Field(default=600.0, ge=0)

    # AI: default models, SDK timeout and retries per delivery, the longest Retry-After
    # waited for inside the worker, Celery retry countdown (10 s), rate limit (10/m; empty =
    # none), document part size, streamed-progress interval, batch cap.
    AI_ANTHROPIC_MODEL: str = "claude-sonnet-5-5"
    AI_OPENAI_MODEL: str = "gpt-5.4-mini"
    AI_REQUEST_TIMEOUT_S: float = Field(default=120.0, gt=0)
    AI_SDK_MAX_RETRIES: int = Field(default=1, ge=0, le=5)
    AI_MAX_RETRY_AFTER_S: float = Field(default=30.0, ge=0)
    AI_RETRY_COUNTDOWN_S: float = Field(default=10.0, ge=0)
    AI_RATE_LIMIT: str | None = "10/m"
    AI_DOCUMENT_CHUNK_TOKENS: int = Field(default=50_000, ge=100)
    AI_STREAM_UPDATE_S: float = Field(default=0.5, ge=0)
    AI_BATCH_MAX_REQUESTS: int = Field(default=100, ge=1)

    # File processing: hostile-file limits, PDF parse bounds, thumbnails, retention.
    ZIP_MAX_ENTRIES: int = Field(default=10_000, ge=1)
    ZIP_MAX_UNCOMPRESSED_MB: int = Field(default=1_024, ge=1)
    ZIP_MAX_RATIO: int = Field(default=100, ge=2)
    IMAGE_MAX_PIXELS: int = Field(default=89_478_485, ge=1)
    THUMBNAIL_MAX_PX: int = Field(default=256, ge=16)
    PDF_PARSE_TIMEOUT_S: float = Field(default=240.0, gt=0)
    PDF_MEMORY_LIMIT_MB: int = Field(default=1_536, ge=64)
    FILE_RETENTION_S: int = Field(default=86_400, ge=60)

    # Faults: how long `python -m app` lets a worker finish its running tasks on Ctrl-C
    # (warm shutdown; the email/AI soft time limit) before SIGKILL; how many deliveries of one task
    # a lost worker (kill -9, OOM, crash) may cost before the task is failed instead of run again;
    # the lease of an e-mail "sending" claim (a live sender renews it; a dead one's claim expires);
    # worker-side message limits (RFC 5322 §2.1.1: lines of at most 998 characters).
    WORKER_STOP_WAIT_S: float = Field(default=600.0, ge=1)
    #: `make run` runs only these Procfile processes (comma-separated; empty = all). The embedded
    #: Redis still starts when it is needed. E.g. a worker host: PROCESSES=worker_email,worker_files
    PROCESSES: str = ""
    MAX_DELIVERIES: int = Field(default=3, ge=1)
    EMAIL_CLAIM_LEASE_S: float = Field(default=15.0, ge=1)
    EMAIL_MAX_SUBJECT_CHARS: int = Field(default=998, ge=10)
    EMAIL_MAX_BODY_BYTES: int = Field(default=5 * 1024 * 1024, ge=1024)

    # Access: sign-in mode, bind address, sessions, throttling, audit retention, OIDC,
    # trusted proxy, e-mail/group -> role rules. See README "Security".
    CONSOLE_AUTH: str | None = None  # none | accounts | oidc | proxy; unset: accounts if CONSOLE_PASSWORD
    CONSOLE_ADDRESS: str = "127.0.0.1"
    SESSION_MAX_AGE_S: float = Field(default=12 * 3600.0, gt=0)
    SIGNIN_MAX_FAILURES: int = Field(default=5, ge=1)
    SIGNIN_MAX_FAILURES_PER_ADDRESS: int = Field(default=20, ge=1)
    SIGNIN_DELAY_BASE_S: float = Field(default=2.0, gt=0)
    SIGNIN_DELAY_MAX_S: float = Field(default=900.0, gt=0)
    SIGNIN_FAILURE_WINDOW_S: int = Field(default=900, ge=1)
    AUDIT_MAX_ENTRIES: int = Field(default=100_000, ge=100)
    ACCESS_ROLES: dict[str, list[str]] = Field(default_factory=dict)
    OIDC_SERVER_METADATA_URL: str | None = None
    OIDC_CLIENT_ID: str | None = None
    OIDC_CLIENT_SECRET: SecretStr | None = None
    OIDC_REDIRECT_URI: str | None = None
    OIDC_COOKIE_SECRET: SecretStr | None = None
    OIDC_GROUPS_CLAIM: str = "groups"
    PROXY_TRUSTED_ADDRESSES: str = ""
    PROXY_USER_HEADER: str = "X-Forwarded-User"
    PROXY_EMAIL_HEADER: str = "X-Forwarded-Email"
    PROXY_GROUPS_HEADER: str = "X-Forwarded-Groups"

    @property
    def auth_mode(self) -> str:
        """How people sign in: CONSOLE_AUTH, else "accounts" when CONSOLE_PASSWORD is set, else "none"."""
        if self.CONSOLE_AUTH:
            return self.CONSOLE_AUTH.strip().lower()
        return "accounts" if self.CONSOLE_PASSWORD is not None else "none"

    # Alerts: destinations (default rules are installed once one is set), webhook body
    # format, timeout and bounded retries, evaluation period, history size, schedule grace period,
    # and the console's address for links in alerts.
    ALERT_EMAIL_TO: str | None = None
    ALERT_WEBHOOK_URL: SecretStr | None = None
    ALERT_WEBHOOK_FORMAT: Literal["json", "slack"] = "json"
    ALERT_WEBHOOK_TIMEOUT_S: float = Field(default=5.0, gt=0, le=60)
    ALERT_WEBHOOK_MAX_RETRIES: int = Field(default=3, ge=0, le=10)
    ALERT_WEBHOOK_RETRY_S: float = Field(default=10.0, ge=0)
    ALERT_EVAL_INTERVAL_S: float = Field(default=30.0, ge=1, le=3600)
    ALERT_HISTORY_MAX: int = Field(default=1_000, ge=10)
    SCHEDULE_GRACE_S: float = Field(default=60.0, ge=0)
    CONSOLE_URL: str | None = None

    @field_validator("ALERT_WEBHOOK_URL")
    @classmethod
    def _webhook_url(cls, v: SecretStr | None) -> SecretStr | None:
        """http:// or https:// with a host only (as app.alerts.webhook.validate_url); empty means unset."""
        if v is None or not v.get_secret_value().strip():
            return None
        url = v.get_secret_value().strip()
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            raise ValueError("ALERT_WEBHOOK_URL is not a valid URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
            raise ValueError("ALERT_WEBHOOK_URL must be an http:// or https:// URL with a host")
        return SecretStr(url)

    @property
    def broker_url(self) -> str:
        """Broker URL: CELERY_BROKER_URL, else REDIS_URL."""
        return self.CELERY_BROKER_URL or self.REDIS_URL

    @property
    def result_backend(self) -> str:
        """Result backend URL: CELERY_RESULT_BACKEND, else REDIS_URL."""
        return self.CELERY_RESULT_BACKEND or self.REDIS_URL

    @property
    def monitor_broker_url(self) -> str:
        """Broker whose Celery events the ingester records: MONITOR_BROKER_URL, else `broker_url`."""
        return self.MONITOR_BROKER_URL or self.broker_url

    @property
    def monitor_queues(self) -> tuple[str, ...]:
        """MONITOR_QUEUES as names, in order, duplicates and blanks dropped."""
        return tuple(dict.fromkeys(q.strip() for q in self.MONITOR_QUEUES.split(",") if q.strip()))

    @property
    def uploads_dir(self) -> Path:
        return self.DATA_DIR / "uploads"

    @property
    def outputs_dir(self) -> Path:
        return self.DATA_DIR / "outputs"

    @property
    def max_upload_bytes(self) -> int:
        return self.MAX_UPLOAD_MB * 1024 * 1024


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, loaded once."""
    return Settings()
