"""One error tree for the console. Every message says what the user should do next."""


class ConsoleError(Exception):
    """Root of every error the console raises on purpose."""


class InvalidInput(ConsoleError):
    """Raised when a user's input (a file, a form field, a task argument) cannot be accepted."""


class UnsupportedFile(InvalidInput):
    """Raised when a file's content is not of a type the requested operation can read."""


class CorruptFile(InvalidInput):
    """Raised when a file claims a supported type but cannot be parsed (truncated, damaged)."""


class FileTooLarge(InvalidInput):
    """Raised when an upload or a file's unpacked content is over a configured limit."""


class UnsafeFile(InvalidInput):
    """Raised when a file carries a known attack (XML entity declarations, a forged archive)."""


class NotConfigured(ConsoleError):
    """Raised when a feature needs a setting (an API key, an SMTP host) that is not set."""


class ServiceUnavailable(ConsoleError):
    """Raised when a backing service (Redis, SMTP, an AI API) cannot be reached."""


class DeliveryRefused(ConsoleError):
    """Raised when an SMTP server refuses a message or its login for good (a 5xx reply); never retried."""


class DeliveryDeferred(ServiceUnavailable):
    """Raised when an SMTP server answers "try again later" (a 4xx reply); retried with backoff."""


class ProviderRejected(ConsoleError):
    """Raised when an AI provider refuses a request (HTTP 400/401/403/404/413/422): retrying cannot help."""


class ProviderBusy(ServiceUnavailable):
    """Raised when an AI provider is rate-limiting, failing or slow (429, 5xx, timeout, no connection).

    `retry_after_s` is the provider's Retry-After in seconds when it sent one (else None).
    """

    def __init__(self, message: str, retry_after_s: float | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class BrokerUnavailable(ServiceUnavailable, ConnectionError):
    """Raised when the Celery broker (Redis or RabbitMQ) cannot be reached; an OSError too, so code
    that handles a lost connection handles it."""


class PermissionDenied(ConsoleError):
    """Raised when the signed-in identity's role is below what an action needs (`app.access.roles`).

    The refusal is written to the audit log before this is raised. `action`, `needed` and `role`
    say what was refused, the least role that may do it and the role the identity has.
    """

    def __init__(self, message: str, action: str = "", needed: str = "", role: str = ""):
        super().__init__(message)
        self.action, self.needed, self.role = action, needed, role


class SignInRefused(ConsoleError):
    """Raised when a sign-in fails: wrong name or password, unknown e-mail, or too many attempts.

    `retry_after_s` is set when the account or address is throttled (seconds until the next try).
    """

    def __init__(self, message: str, retry_after_s: float | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class UnsafeSetting(ConsoleError):
    """Raised at start when a setting would expose the console (bind elsewhere without sign-in, an
    empty CONSOLE_PASSWORD); the message names the setting to change."""


class WebhookRejected(ConsoleError):
    """Raised when an alert webhook answers with a client error (4xx other than 408/429): the URL or
    the receiver's configuration is wrong, so retrying cannot help; fix ALERT_WEBHOOK_URL."""


class WorkerLostTooOften(ConsoleError):
    """Raised when a task's worker was lost (killed, out of memory, crashed) MAX_DELIVERIES times:
    the task is failed and acked instead of being run again."""


class EtaTooFar(InvalidInput):
    """Raised when a countdown/ETA is at or beyond the broker's visibility timeout: Redis would hand
    the message to a second worker while the first still holds it, so it would run twice."""
