"""Service errors: each has a stable `code` the API maps to a problem type and status."""

from __future__ import annotations


class ServiceError(Exception):
    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(ServiceError):
    """Also what someone who may not see a case gets: they must not learn it exists."""

    code = "not-found"


class Forbidden(ServiceError):
    code = "forbidden"


class InvalidInput(ServiceError):
    code = "invalid-input"


class Refused(ServiceError):
    """The case does not allow the command as it is now (the engine said no)."""

    code = "refused"


class Conflict(ServiceError):
    """Another writer changed the case first and the command no longer applies."""

    code = "conflict"


class PreconditionFailed(ServiceError):
    """The caller's expected version (If-Match) is not the case's version."""

    code = "precondition-failed"


class Unauthenticated(ServiceError):
    """No valid credentials: wrong password, unknown, expired or revoked token or session."""

    code = "unauthenticated"


class RateLimited(ServiceError):
    """Too many attempts: try again after `retry_after` seconds."""

    code = "rate-limited"

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = max(1, retry_after)


class TooLarge(ServiceError):
    """More bytes than the limit allows (an upload); the API answers 413."""

    code = "too-large"


class UnsupportedType(ServiceError):
    """Content of a type that is not accepted (judged by its bytes); the API answers 415."""

    code = "unsupported-media-type"
