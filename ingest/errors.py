"""How the native decoder's errors answer a client: one table, used by the ingest service.

``UnknownFormat`` is missing on purpose: the handler picks the format from its own table of
Content-Types, so an unknown one is a bug (500), not the client's fault.
"""

from __future__ import annotations

from hearth_core.errors import InvalidInput, ServiceError, TooLarge
from hearth_core.metrics.codec import BodyTooLarge, IngestError, MalformedBody

PROBLEMS: dict[type[IngestError], type[ServiceError]] = {
    MalformedBody: InvalidInput,  # 400
    BodyTooLarge: TooLarge,  # 413
}
CLIENT_ERRORS = tuple(PROBLEMS)


def problem(exc: IngestError) -> ServiceError:
    """The problem+json error for one of ``CLIENT_ERRORS``, its message at path ``$``."""
    detail = str(exc)
    return PROBLEMS[type(exc)](detail, errors=[{"path": "$", "message": detail}])
