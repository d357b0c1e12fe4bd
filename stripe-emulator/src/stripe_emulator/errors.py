"""Stripe error responses as exceptions that the HTTP layer renders."""

from __future__ import annotations

from typing import Any


class StripeAPIError(Exception):
    """Raised anywhere in a handler; rendered as Stripe's `{"error": {...}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra or {}
        self.headers = headers or {}
        # True: the handler's writes are committed although the request fails
        # (set by the billing engine on declined payment attempts).
        self.keep_state = False

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        err: dict[str, Any] = {"message": self.message, "type": self.type}
        if self.code is not None:
            err["code"] = self.code
        if self.param is not None:
            err["param"] = self.param
        if self.decline_code is not None:
            err["decline_code"] = self.decline_code
        if request_id and self.type != "api_error":
            err["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        err.update(self.extra)
        return {"error": err}


def invalid_request(
    message: str, *, param: str | None = None, code: str | None = None, status: int = 400
) -> StripeAPIError:
    return StripeAPIError(status, message, param=param, code=code)


def unknown_parameter(param: str) -> StripeAPIError:
    return invalid_request(
        f"Received unknown parameter: {param}", param=param, code="parameter_unknown"
    )


def missing_parameter(param: str) -> StripeAPIError:
    return invalid_request(
        f"Missing required param: {param}.", param=param, code="parameter_missing"
    )


def invalid_value(param: str, message: str) -> StripeAPIError:
    return invalid_request(message, param=param, code="parameter_invalid_string")


def resource_missing(object_name: str, object_id: str, *, param: str = "id") -> StripeAPIError:
    label = object_name.replace("_", " ")
    return invalid_request(
        f"No such {label}: '{object_id}'", param=param, code="resource_missing", status=404
    )


def not_found_route(method: str, path: str) -> StripeAPIError:
    return invalid_request(
        f"Unrecognized request URL ({method}: {path}). The emulator does not implement this "
        "endpoint; see stripe_emulator/README.md for the coverage table.",
        status=404,
    )


def authentication(message: str) -> StripeAPIError:
    return StripeAPIError(401, message)


def card_error(
    message: str,
    *,
    code: str,
    decline_code: str | None = None,
    param: str | None = None,
    extra: dict[str, Any] | None = None,
) -> StripeAPIError:
    return StripeAPIError(
        402,
        message,
        type="card_error",
        code=code,
        decline_code=decline_code,
        param=param,
        extra=extra,
    )


def idempotency_error(message: str) -> StripeAPIError:
    return StripeAPIError(400, message, type="idempotency_error")


def api_error(message: str = "An unknown error occurred", status: int = 500) -> StripeAPIError:
    return StripeAPIError(status, message, type="api_error")
