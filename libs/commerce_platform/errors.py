"""RFC 9457 problem details for every error a client can see, and nothing that leaks internals."""

from __future__ import annotations

import socket
from http import HTTPStatus
from typing import Any

import structlog
from advanced_alchemy.exceptions import IntegrityError, NotFoundError, RepositoryError
from asyncpg import exceptions as pg
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://errors.commerce.dev/"

log = structlog.get_logger("commerce.errors")


class ProblemError(Exception):
    """A domain failure with an HTTP status; raise it from any layer and the client gets a problem body."""

    status_code: int = 400
    problem_type: str = "bad-request"

    def __init__(
        self,
        detail: str,
        *,
        status_code: int | None = None,
        problem_type: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if status_code is not None:
            self.status_code = status_code
        if problem_type is not None:
            self.problem_type = problem_type
        self.title = title or HTTPStatus(self.status_code).phrase
        self.headers = headers or {}
        self.extra = extra or {}


class BadRequest(ProblemError):
    status_code = 400
    problem_type = "bad-request"


class Unauthorized(ProblemError):
    status_code = 401
    problem_type = "unauthorized"

    def __init__(self, detail: str = "authentication required", **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="commerce"'})
        super().__init__(detail, **kwargs)


class PaymentRequired(ProblemError):
    status_code = 402
    problem_type = "payment-declined"


class Forbidden(ProblemError):
    status_code = 403
    problem_type = "forbidden"


class NotFound(ProblemError):
    status_code = 404
    problem_type = "not-found"


class Conflict(ProblemError):
    status_code = 409
    problem_type = "conflict"


class Unprocessable(ProblemError):
    status_code = 422
    problem_type = "unprocessable"


class TooManyRequests(ProblemError):
    status_code = 429
    problem_type = "rate-limited"

    def __init__(self, detail: str, *, retry_after_seconds: int, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(max(1, retry_after_seconds))})
        super().__init__(detail, **kwargs)


class DependencyUnavailable(ProblemError):
    """A service we depend on did not answer in time; the client may retry later."""

    status_code = 503
    problem_type = "dependency-unavailable"


def problem_response(
    request: Request[Any, Any, Any],
    *,
    status_code: int,
    problem_type: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + problem_type,
        "title": title,
        "status": status_code,
        "detail": detail,
        "instance": request.url.path,
    }
    request_id = request.scope.get("state", {}).get("request_id")
    if request_id:
        body["request_id"] = request_id
    if extra:
        body.update({k: v for k, v in extra.items() if k not in body})
    return Response(content=body, status_code=status_code, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _problem_error_handler(request: Request[Any, Any, Any], exc: ProblemError) -> Response[dict[str, Any]]:
    return problem_response(
        request,
        status_code=exc.status_code,
        problem_type=exc.problem_type,
        title=exc.title,
        detail=exc.detail,
        headers=exc.headers,
        extra=exc.extra,
    )


def _validation_handler(request: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    # Litestar's extra lists per-field messages ("key", "message", "source"); they name fields, never code.
    errors = exc.extra if isinstance(exc.extra, list) else []
    return problem_response(
        request,
        status_code=400,
        problem_type="validation-error",
        title="Request validation failed",
        detail=_validation_detail(exc.detail, errors),
        extra={"errors": errors},
    )


def _validation_detail(detail: str, errors: list[Any]) -> str:
    if errors:
        first = errors[0]
        if isinstance(first, dict) and first.get("message"):
            where = first.get("key") or first.get("source") or "body"
            return f"{first['message']} ({where})"
    return detail or "the request is not valid"


def _http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    phrase = HTTPStatus(status).phrase
    # 5xx details may carry internals; clients get the phrase only.
    detail = exc.detail if status < 500 and exc.detail else phrase
    if status == 413:
        detail = "request body too large"
    slug = phrase.lower().replace(" ", "-").replace("'", "")
    extra = exc.extra if isinstance(exc.extra, dict) else None
    return problem_response(
        request, status_code=status, problem_type=slug, title=phrase, detail=detail,
        headers=exc.headers, extra=extra,
    )


# Database failures that say nothing about the request: the same request succeeds once the
# database answers again or the colliding transaction is gone. A 500 would blame the request.
_CONTENTION = (pg.DeadlockDetectedError, pg.SerializationError)
_OVERLOAD = (pg.TooManyConnectionsError,)
# The database server out of reach: the connection lost, or the server shutting down or starting
# (a failover, a restart). Also what makes an event consumer pause (events/outage.py).
DATABASE_DOWN = (pg.PostgresConnectionError, pg.CannotConnectNowError, pg.AdminShutdownError, pg.CrashShutdownError)
# Text Postgres cannot store: a NUL character (in a query string, path or JSON body) or one the
# database encoding lacks. Validation lets both through and they name no bug of ours: the request's fault.
_UNSTORABLE_TEXT = (pg.CharacterNotInRepertoireError, pg.UntranslatableCharacterError)


def _database_cause(exc: BaseException) -> pg.PostgresError | None:
    """The asyncpg error behind an advanced-alchemy one (through SQLAlchemy's DBAPIError and its
    adapter), if any: advanced-alchemy files every DBAPIError it does not know as IntegrityError."""
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None or isinstance(seen, pg.PostgresError):
            return seen
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


def _repository_error_handler(request: Request[Any, Any, Any], exc: RepositoryError) -> Response[dict[str, Any]]:
    # advanced-alchemy's messages can quote SQL and values; clients get a generic sentence.
    cause = _database_cause(exc)
    if isinstance(cause, _UNSTORABLE_TEXT + _CONTENTION + _OVERLOAD + DATABASE_DOWN):
        return _database_error_handler(request, cause)
    if isinstance(exc, NotFoundError):
        return problem_response(request, status_code=404, problem_type="not-found", title="Not Found",
                                detail="no such resource")
    if isinstance(exc, IntegrityError):
        return problem_response(request, status_code=409, problem_type="conflict", title="Conflict",
                                detail="the change conflicts with existing data")
    if isinstance(exc.__cause__, SQLAlchemyTimeoutError):
        # Every pooled connection is busy: an overload the client can retry, not a bug.
        return problem_response(request, status_code=503, problem_type="overloaded", title="Service Unavailable",
                                detail="the service is overloaded; retry shortly", headers={"Retry-After": "1"})
    return _unhandled_handler(request, exc)


def _unavailable(request: Request[Any, Any, Any], exc: BaseException, *, problem_type: str,
                 detail: str) -> Response[dict[str, Any]]:
    # One line, no traceback: under overload these come by the hundred, and they name no bug.
    log.warning("service unavailable", problem_type=problem_type, error=type(exc).__name__,
                path=request.url.path, method=request.method)
    return problem_response(request, status_code=503, problem_type=problem_type, title="Service Unavailable",
                            detail=detail, headers={"Retry-After": "1"})


def _database_error_handler(request: Request[Any, Any, Any], exc: pg.PostgresError) -> Response[dict[str, Any]]:
    if isinstance(exc, _UNSTORABLE_TEXT):
        return problem_response(request, status_code=400, problem_type="unstorable-text", title="Bad Request",
                                detail="the request contains a character that cannot be stored, such as NUL")
    if isinstance(exc, _CONTENTION):
        return _unavailable(request, exc, problem_type="contention",
                            detail="the change collided with a concurrent one and was not applied; retry it")
    if isinstance(exc, _OVERLOAD):
        return _unavailable(request, exc, problem_type="overloaded", detail="the service is overloaded; retry shortly")
    if isinstance(exc, DATABASE_DOWN):
        return _unavailable(request, exc, problem_type="database-unavailable",
                            detail="the database is unavailable; retry shortly")
    return _unhandled_handler(request, exc)


def unreachable(exc: BaseException) -> bool:
    """A connection that could not be made or was lost: refused or reset, a name that does not
    resolve, or the bare OSError raised when every address of a host refused (asyncpg's connect to
    the database, mostly). Other OSErrors (files, permissions) are bugs."""
    return isinstance(exc, ConnectionError | socket.gaierror) or type(exc) is OSError


def _os_error_handler(request: Request[Any, Any, Any], exc: OSError) -> Response[dict[str, Any]]:
    # TimeoutError is an OSError: a pool acquire that waited its bound (database.py) or a connect
    # that timed out.
    if isinstance(exc, TimeoutError):
        return _unavailable(request, exc, problem_type="overloaded", detail="the service is overloaded; retry shortly")
    if unreachable(exc):
        return _unavailable(request, exc, problem_type="dependency-unavailable",
                            detail="a backing service is out of reach; retry shortly")
    return _unhandled_handler(request, exc)


def _unhandled_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error", path=request.url.path, method=request.method)
    return problem_response(
        request,
        status_code=500,
        problem_type="internal-error",
        title="Internal Server Error",
        detail="an unexpected error occurred; it has been logged",
    )


def exception_handlers() -> ExceptionHandlersMap:
    return {
        ProblemError: _problem_error_handler,
        RepositoryError: _repository_error_handler,
        pg.PostgresError: _database_error_handler,
        OSError: _os_error_handler,
        ValidationException: _validation_handler,
        HTTPException: _http_exception_handler,
        Exception: _unhandled_handler,
    }


__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "BadRequest",
    "Conflict",
    "DependencyUnavailable",
    "Forbidden",
    "NotFound",
    "PaymentRequired",
    "ProblemError",
    "TooManyRequests",
    "Unauthorized",
    "Unprocessable",
    "exception_handlers",
    "problem_response",
]
