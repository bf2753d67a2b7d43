"""How a network error is described in our messages: its own text, else its cause's."""

from __future__ import annotations

import ssl

from fal_client._errors import describe_exception


class ConnectError(Exception):
    pass


class Cancelled(BaseException):
    """Stands in for asyncio's CancelledError and trio's Cancelled (not Exceptions)."""


def chained(outer: BaseException, inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer from exc
    except BaseException as exc:
        return exc


def test_its_own_text_when_it_has_one() -> None:
    assert describe_exception(ConnectError("refused")) == "ConnectError: refused"


def test_an_empty_message_takes_the_reason_from_the_cause() -> None:
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] self-signed")
    described = describe_exception(chained(ConnectError(""), cause))
    assert described.startswith("ConnectError: SSLCertVerificationError: ")
    assert described.endswith("[SSL: CERTIFICATE_VERIFY_FAILED] self-signed")


def test_a_cancellation_in_the_chain_is_not_reported_as_the_reason() -> None:
    # A read timeout is raised from the cancel scope that enforced it; saying "Cancelled"
    # would read as if the caller's own task had been cancelled.
    described = describe_exception(chained(ConnectError(""), Cancelled("deadline exceeded")))
    assert described == "ConnectError"
