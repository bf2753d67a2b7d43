"""The exception tree. Everything this package raises on purpose is a ``FalClientError``.

    FalClientError                      (root; the official client's name)
    ├── MissingCredentialsError         no key found anywhere (also a ValueError)
    ├── FalClientTimeoutError           a client-side deadline passed (also a TimeoutError)
    ├── FalClientConnectionError        the network failed and retrying was not possible or not safe
    │   └── SubmitNotConfirmedError     a POST may have created a paid job; not re-sent on purpose
    │       └── SubmitNotRecoveredError the request history could not say which job (if any) it was
    ├── FalClientHTTPError              fal answered with an error status (the official name)
    │   ├── AuthenticationError         401, 403
    │   ├── NotFoundError               404
    │   ├── ValidationError             422 (the structured ``detail`` is kept)
    │   ├── RateLimitError              429 (``retry_after`` in seconds when the server said)
    │   ├── JobCancelledError           499: the job was cancelled before it produced a result
    │   ├── StartTimeoutError           504 "user": ``start_timeout`` passed (also a TimeoutError)
    │   ├── ServerError                 other 5xx
    │   └── JobFailedError              the job's final status carried an error
    └── UnexpectedResponseError         fal answered 2xx with a body this client cannot read

Cancellation (``anyio.get_cancelled_exc_class()``, ``KeyboardInterrupt``) is never caught or
wrapped. Every error carries the app id and request id it concerns when they are known, and never
the API key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

__all__ = [
    "AuthenticationError",
    "BudgetExceededError",
    "FalClientConnectionError",
    "FalClientError",
    "FalClientHTTPError",
    "FalClientTimeoutError",
    "InputProblem",
    "InputValidationError",
    "JobCancelledError",
    "JobFailedError",
    "MissingCredentialsError",
    "NotFoundError",
    "RateLimitError",
    "ServerError",
    "StartTimeoutError",
    "SubmitNotConfirmedError",
    "SubmitNotRecoveredError",
    "UnexpectedResponseError",
    "UnknownEndpointError",
    "ValidationError",
]


def describe_exception(exc: BaseException) -> str:
    """``"Type: message"`` for a network error, taking the message from the first exception
    down its cause chain that has one: under trio, httpx's ``ConnectError`` for a refused
    certificate has an empty message and the reason ("CERTIFICATE_VERIFY_FAILED") sits on
    the ``SSLCertVerificationError`` it was raised from."""
    seen: set[int] = set()
    inner: Optional[BaseException] = exc
    # Only errors: a cancellation in the chain (a read timeout is raised from the cancel scope
    # that enforced it) would read as if the caller's own task had been cancelled.
    while inner is not None and id(inner) not in seen and isinstance(inner, Exception):
        seen.add(id(inner))
        text = str(inner)
        if text:
            if inner is exc:
                return f"{type(exc).__name__}: {text}"
            return f"{type(exc).__name__}: {type(inner).__name__}: {text}"
        inner = inner.__cause__ or inner.__context__
    return type(exc).__name__


MISSING_CREDENTIALS_MESSAGE = (
    "No credentials found. Set FAL_KEY (or FAL_KEY_ID/FAL_KEY_SECRET), pass key=..., "
    "or log in with `fal auth login`."
)


def _context_suffix(
    app: Optional[str], request_id: Optional[str], status_code: Optional[int] = None
) -> str:
    # Context goes AFTER the official client's text, so code that matches on str(e) (for
    # example `"content_policy_violation" in str(e)`, or a whole-string compare of the
    # official message) still finds exactly what it looked for.
    parts = []
    if status_code is not None:
        parts.append(f"HTTP {status_code}")
    if app:
        parts.append(f"app={app}")
    if request_id:
        parts.append(f"request_id={request_id}")
    return f" [{', '.join(parts)}]" if parts else ""


class FalClientError(Exception):
    """Root of every error this client raises on purpose.

    Attributes:
        app: the app id the failing call was about, when known.
        request_id: the fal request id, when one exists.
    """

    def __init__(
        self, message: Any = "", *, app: Optional[str] = None, request_id: Optional[str] = None
    ):
        super().__init__(message)
        self.message: Any = message
        self.app = app
        self.request_id = request_id

    def __str__(self) -> str:
        return f"{self.message}{_context_suffix(self.app, self.request_id)}"


class MissingCredentialsError(FalClientError, ValueError):
    """No API key was given and none was found in the environment or the fal login file.

    Builds without arguments, as code written for the official client raises it; the client's
    own carries ``MISSING_CREDENTIALS_MESSAGE``.
    """


class FalClientTimeoutError(FalClientError, TimeoutError):
    """A client-side deadline (``client_timeout``, ``timeout``) passed before the call finished.

    When a queued job was involved it has been cancelled remotely (best effort) before this is
    raised. ``timeout`` is the deadline in seconds, ``request_id`` the job's id when one was
    created. ``str(e)`` starts with the official client's text ("Request <id> timed out after
    <timeout> seconds"); ``message`` holds what this client adds (what happened to the job).
    """

    def __init__(
        self,
        timeout: float,
        request_id: Optional[str] = None,
        *,
        app: Optional[str] = None,
        message: Optional[str] = None,
    ):
        super().__init__(message or "", app=app, request_id=request_id)
        self.timeout = timeout

    def __str__(self) -> str:
        # The official text, formatted as the official client formats it ({timeout} as given).
        if self.request_id is None:
            text = f"Request timed out after {self.timeout} seconds"
        else:
            text = f"Request {self.request_id} timed out after {self.timeout} seconds"
        if self.message:
            text = f"{text}: {self.message}"
        return f"{text}{_context_suffix(self.app, None)}"


class FalClientConnectionError(FalClientError):
    """The connection to fal failed (refused, reset, read timeout) and was not retried further.

    The underlying library's exception is kept as ``__cause__``; ``timed_out`` says whether it
    was a timeout (no byte arrived in time) rather than a refused or broken connection.
    """

    def __init__(
        self,
        message: Any = "",
        *,
        app: Optional[str] = None,
        request_id: Optional[str] = None,
        timed_out: bool = False,
    ):
        super().__init__(message, app=app, request_id=request_id)
        self.timed_out = timed_out


class SubmitNotConfirmedError(FalClientConnectionError):
    """A ``submit``/``run`` POST was sent but its answer was lost (reset or read timeout).

    The job may exist and may be billed. It is not re-sent automatically, so that a paid job is
    never created twice: check your dashboard or the webhook, or re-submit if you accept the risk.
    """


class SubmitNotRecoveredError(SubmitNotConfirmedError):
    """A submit's answer was lost, and the request history could not settle what happened.

    Raised instead of a plain ``SubmitNotConfirmedError`` where lost submits are recovered
    (``recover_lost_submit=True``, ``map``, the CLI ``batch``): nothing was re-sent. ``reason``
    says why the lookup could not decide: ``"ambiguous"`` (several requests with this input
    were sent in the window; ``candidates`` holds their ids, one of which is most likely this
    submit's job), ``"not found in the history within N s"``, or ``"history unavailable:
    ..."`` (the platform API could not be read).
    """

    def __init__(
        self,
        message: Any = "",
        *,
        reason: str,
        candidates: Sequence[str] = (),
        app: Optional[str] = None,
        request_id: Optional[str] = None,
    ):
        super().__init__(message, app=app, request_id=request_id)
        self.reason = reason
        self.candidates: tuple[str, ...] = tuple(candidates)


class UnexpectedResponseError(FalClientError):
    """fal answered with a success status but a body this client cannot interpret."""

    def __init__(
        self,
        message: str,
        *,
        body: Any = None,
        app: Optional[str] = None,
        request_id: Optional[str] = None,
    ):
        super().__init__(message, app=app, request_id=request_id)
        self.body = body


class FalClientHTTPError(FalClientError):
    """fal (or the app) answered with an error status.

    ``message``, ``status_code``, ``response_headers``, ``response`` and ``error_type`` are
    what the official client puts there, with the same types; ``str(e)`` starts with
    ``str(message)`` as the official ``str(e)`` is, and adds the app and request id (and the
    status when the body was empty).

    Attributes:
        status_code: the HTTP status.
        message: the body's ``detail`` as sent when the body is a JSON object that has one (for
            a 422 the list of field errors), else the body's text: the official client's rule.
        summary: a readable one-line message (field errors joined as ``loc: msg``).
        detail: the body's ``detail`` as sent (string, list of field errors, or ``None``).
        body: the decoded JSON body, or the raw text when it was not JSON.
        error_type: fal's machine-readable error type (body ``error_type`` or ``X-Fal-Error-Type``).
        response_headers: the response headers (a plain dict, lower-case names).
        response: the response object itself (httpx-compatible).
    """

    def __init__(
        self,
        message: Any,
        status_code: int,
        response_headers: Optional[Mapping[str, str]] = None,
        response: Any = None,
        error_type: Optional[str] = None,
        *,
        detail: Any = None,
        body: Any = None,
        app: Optional[str] = None,
        request_id: Optional[str] = None,
    ):
        headers = {k.lower(): v for k, v in (response_headers or {}).items()}
        super().__init__(message, app=app, request_id=request_id or headers.get("x-fal-request-id"))
        self.status_code = status_code
        self.response_headers = headers
        self.response = response
        self.error_type = error_type
        self.detail = detail
        self.body = body

    @property
    def summary(self) -> str:
        """A readable one-line message: field errors joined as ``loc: msg``, text as is."""
        if self.detail is not None:
            return _message_from_detail(self.detail)
        return str(self.message) if self.message not in (None, "") else f"HTTP {self.status_code}"

    def __str__(self) -> str:
        # The status is added only when the message is empty (the official str(e) is then
        # empty too): str(FalClientHTTPError("boom", 500, ...)) stays "boom", as code that
        # builds its own errors expects.
        shown = None if self.message not in (None, "") else self.status_code
        return f"{self.message}{_context_suffix(self.app, self.request_id, shown)}"


class AuthenticationError(FalClientHTTPError):
    """The key was missing, wrong or not allowed to use this app (401 or 403)."""


class NotFoundError(FalClientHTTPError):
    """The app or request does not exist (404)."""


class ValidationError(FalClientHTTPError):
    """The app rejected the arguments (422). ``field_errors`` lists ``{loc, msg, type}`` dicts."""

    @property
    def field_errors(self) -> list[dict[str, Any]]:
        """The validation errors as a list of dicts, also when the server sent a plain string."""
        if isinstance(self.detail, list):
            return [e if isinstance(e, dict) else {"msg": str(e)} for e in self.detail]
        return [{"loc": ["body"], "msg": str(self.detail), "type": "value_error"}]


class RateLimitError(FalClientHTTPError):
    """Too many requests (429) even after retrying. ``retry_after`` is in seconds, or ``None``."""

    retry_after: Optional[float] = None


class JobCancelledError(FalClientHTTPError):
    """The job was cancelled before it produced a result (result answered 499)."""


class StartTimeoutError(FalClientHTTPError, TimeoutError):
    """The job did not start before its ``start_timeout`` (fal answered 504, timeout type user)."""


class ServerError(FalClientHTTPError):
    """fal or the app failed with a 5xx status."""


class JobFailedError(FalClientHTTPError):
    """The job finished with an error in its final status (``error``, ``error_type``)."""


class UnknownEndpointError(FalClientError, LookupError):
    """The platform API does not list this endpoint (misspelt, private, or not a model).

    ``app`` is the endpoint id asked for.
    """


@dataclass(frozen=True)
class InputProblem:
    """One reason an endpoint's input schema refuses the arguments.

    Attributes:
        path: where, as a JSON path (``$.image_size.width``; ``$`` is the arguments object).
        message: what is wrong, in words.
        allowed: the values the schema allows there, when it lists them (an enum, or the known
            keys for a key it does not know), else ``None``.
    """

    path: str
    message: str
    allowed: Optional[tuple[Any, ...]] = None

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}"
        if self.allowed is not None:
            text += f" (allowed: {', '.join(repr(v) for v in self.allowed)})"
        return text


class InputValidationError(FalClientError, ValueError):
    """The arguments do not match the endpoint's input schema; nothing was sent.

    Raised by calls with ``validate=True`` before anything is submitted or paid for.
    ``problems`` lists every problem found (``InputProblem``: JSON path, message, allowed
    values); ``str(e)`` names them all. ``app`` is the endpoint id.
    """

    def __init__(self, problems: Sequence[InputProblem], *, app: Optional[str] = None):
        self.problems = tuple(problems)
        count = len(self.problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(
            f"the arguments do not match the input schema of {app or 'the endpoint'} "
            f"({count} {noun}); nothing was sent:\n{lines}",
            app=app,
        )


class BudgetExceededError(FalClientError):
    """Starting (more of) a batch would cost more than its ``max_cost``.

    Attributes:
        max_cost: the budget given.
        estimate: what the platform API estimates the refused work to cost, in total (the
            whole batch when raised before the first submit; what was started plus the next
            job when raised during it).
        currency: the estimate's currency.
        started: how many jobs had been started when it was raised.
    """

    def __init__(
        self,
        message: str,
        *,
        max_cost: float,
        estimate: float,
        currency: str,
        started: int = 0,
        app: Optional[str] = None,
    ):
        super().__init__(message, app=app)
        self.max_cost = max_cost
        self.estimate = estimate
        self.currency = currency
        self.started = started


def _message_from_detail(detail: Any) -> str:
    """Turn fal's ``detail`` (string or FastAPI-style list) into a readable one-line message."""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                msg = item.get("msg", "")
                parts.append(f"{loc}: {msg}" if loc else str(msg))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return json.dumps(detail, default=str)


def error_from_response(
    status_code: int,
    headers: Mapping[str, str],
    content: bytes,
    *,
    response: Any = None,
    app: Optional[str] = None,
    request_id: Optional[str] = None,
) -> FalClientHTTPError:
    """Build the right ``FalClientHTTPError`` subclass for an error response (no I/O)."""
    lower = {k.lower(): v for k, v in headers.items()}
    text = content.decode("utf-8", errors="replace")
    body: Any
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = text
    detail: Any = body.get("detail") if isinstance(body, dict) else None
    error_type = (body.get("error_type") if isinstance(body, dict) else None) or lower.get(
        "x-fal-error-type"
    )
    # The official client's rule: ``detail`` of a JSON object (even a list, even null), else
    # the whole text of the body.
    message: Any = body.get("detail", text) if isinstance(body, dict) else text
    cls: type[FalClientHTTPError]
    if status_code in (401, 403):
        cls = AuthenticationError
    elif status_code == 404:
        cls = NotFoundError
    elif status_code == 422:
        cls = ValidationError
    elif status_code == 429:
        cls = RateLimitError
    elif status_code == 499:
        cls = JobCancelledError
    elif status_code == 504 and "x-fal-request-timeout-type" in lower:
        cls = StartTimeoutError
    elif status_code >= 500:
        cls = ServerError
    else:
        cls = FalClientHTTPError
    err = cls(
        message,
        status_code,
        lower,
        response,
        error_type,
        detail=detail,
        body=body,
        app=app,
        request_id=request_id,
    )
    if isinstance(err, RateLimitError):
        from ._retry import parse_retry_after

        err.retry_after = parse_retry_after(lower.get("retry-after"))
    return err
