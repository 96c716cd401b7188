"""Domain errors. The API layer renders each as RFC 9457 problem+json with its ``status``."""

from __future__ import annotations

from typing import ClassVar


class ServiceError(Exception):
    """Base of every error a client can cause; never used for bugs."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad Request"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        type_: str = "about:blank",
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}
        self.type = type_


class InvalidInput(ServiceError):
    status = 400
    title = "Bad Request"


class Unauthorized(ServiceError):
    status = 401
    title = "Unauthorized"


class Forbidden(ServiceError):
    status = 403
    title = "Forbidden"


class NotFound(ServiceError):
    status = 404
    title = "Not Found"


class Conflict(ServiceError):
    status = 409
    title = "Conflict"


class PreconditionFailed(ServiceError):
    status = 412
    title = "Precondition Failed"


class Unprocessable(ServiceError):
    status = 422
    title = "Unprocessable Content"


class TooManyRequests(ServiceError):
    status = 429
    title = "Too Many Requests"


class Unavailable(ServiceError):
    status = 503
    title = "Service Unavailable"


class TooLarge(ServiceError):
    status = 413
    title = "Content Too Large"


class UnsupportedMediaType(ServiceError):
    status = 415
    title = "Unsupported Media Type"
