"""The emulator core: request pipeline independent of the HTTP server.

`Emulator.handle()` takes a method, path, query, headers and body and returns
a `Response`. Pipeline for /v1 requests: fault injection -> auth -> API
version -> route match -> param decoding and validation -> idempotency ->
handler (inside one transaction) -> render (strip + expand) -> response hooks.

The test helpers (/_emulator/...) and the hosted pages need no API key, so a
web page on another site must not be able to drive them from a visitor's
browser (``_refusal``): helpers take POSTs only with a JSON body, which a
cross-site form cannot send and cross-site JavaScript cannot send without a
CORS preflight that the emulator never answers; and helpers and pages refuse
any state-changing request the browser marks as coming from another site.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from . import routing
from .config import (
    DEFAULT_API_VERSION,
    IDEMPOTENCY_TTL_SECONDS,
    EmulatorConfig,
)
from .context import Ctx
from .errors import StripeAPIError, api_error, authentication, invalid_request, not_found_route
from .faults import Faults
from .ids import new_request_id
from .limits import (
    RATE_LIMIT_MESSAGE,
    STRIPE_SEARCH_RATE_LIMIT,
    RateLimiter,
    RequestStats,
    endpoint_of,
    latency_sample_ms,
)
from .pages import PAGE_PREFIXES
from .pages import dispatch as dispatch_page
from .params import decode_form, schema_for, validate
from .render import render
from .response import Response
from .store import Store
from .versions import check_version, render_version
from .webhooks import Dispatcher

logger = logging.getLogger(__name__)

JSONDict = dict[str, Any]
# Methods that change nothing; browsers send every other one cross-site only
# after a CORS preflight, except POST from a plain form or fetch().
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# fn(method, path, status, body) called with every JSON response body; tests
# use it to run the conformance checker over everything the emulator returns.
ResponseHook = Callable[[str, str, int, Any], None]
# The same plus the API version the response is rendered in (the snapshot
# conformance check of each version uses it).
VersionedResponseHook = Callable[[str, str, int, Any, str], None]


class Emulator:
    def __init__(self, data: str = ":memory:", config: EmulatorConfig | None = None) -> None:
        from . import resources  # noqa: F401 - registers every route

        self.config = config or EmulatorConfig()
        self.store = Store(data)
        self.faults = Faults()
        self.rate_limiter = RateLimiter()
        self.stats = RequestStats()
        self.dispatcher = Dispatcher(self)
        self.response_hooks: list[ResponseHook] = []
        self.versioned_response_hooks: list[VersionedResponseHook] = []

    def start_background(self) -> None:
        self.dispatcher.start()
        # Renewals, retries and the invoice gate of subscriptions without a
        # test clock, on the real clock (see billing.start_real_clock).
        from .engine import start_real_clock

        start_real_clock(self)

    def stop_background(self) -> None:
        self.dispatcher.stop()

    def reset(self) -> None:
        with self.store.atomic():
            self.store.reset()
        self.faults.clear()
        self.rate_limiter.clear()
        self.stats.reset()

    def context(self, **kwargs: Any) -> Ctx:
        """A context for code running outside a request (clock workers, helpers)."""
        return Ctx(app=self, **kwargs)

    # -- pipeline ------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Response:
        method = method.upper()
        request_id = new_request_id()
        if path.startswith("/_emulator/"):
            refused = self._refusal(method, headers, helper=True)
            if refused is not None:
                return refused
            return self._handle_helper(method, path, query, body)
        if path == "/" or path.startswith(PAGE_PREFIXES):
            # Hosted HTML pages (checkout, portal, invoices, 3DS, dashboard): no API key.
            # Their forms post to themselves (same origin) with a per-object token.
            refused = self._refusal(method, headers, helper=False)
            if refused is not None:
                return refused
            return dispatch_page(self, method, path, query, headers, body)
        version = headers.get("stripe-version") or DEFAULT_API_VERSION
        base_headers = {"Request-Id": request_id, "Stripe-Version": version}
        limited = self._rate_limit_refusal(method, path, headers)
        self.stats.record(rate_limited=limited is not None)
        # Outside the store lock: slow requests overlap, as on Stripe.
        self._sleep_latency()
        if limited is not None:
            return self._error(limited, request_id, base_headers, method, path)
        fault = self.faults.pick_api_fault(method, path)
        # "drop_after": the request is processed and committed, then the
        # response is lost, as when a connection dies after Stripe has acted.
        drop_after = fault is not None and fault.mode == "drop_after"
        if fault is not None and not drop_after:
            if fault.mode == "drop":
                return Response(0, b"", drop_connection=True)
            status = int(fault.mode)
            err = (
                StripeAPIError(
                    429,
                    "Too many requests hit the API too quickly.",
                    code="rate_limit",
                    type="invalid_request_error",
                )
                if status == 429
                else api_error("Injected fault: internal server error.", status)
            )
            return self._error(err, request_id, base_headers, method, path)
        resp = self._handle_api(method, path, query, headers, body, request_id, base_headers)
        if drop_after:
            resp.drop_connection = True
        return resp

    def _handle_api(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        request_id: str,
        base_headers: dict[str, str],
    ) -> Response:
        version = base_headers["Stripe-Version"]
        try:
            route, path_params, raw, params = self._parse_api_request(
                method, path, query, headers, body, version
            )
        except StripeAPIError as exc:
            return self._error(exc, request_id, base_headers, method, path)

        idem_key = headers.get("idempotency-key") if method == "POST" else None
        api_key = self._api_key(headers.get("authorization", "")) or ""
        fingerprint = ""
        with self.store.atomic():
            if idem_key:
                if len(idem_key) > 255:
                    return self._error(
                        invalid_request(
                            "Idempotency-Key must be at most 255 characters long.",
                            param="Idempotency-Key",
                        ),
                        request_id,
                        base_headers,
                        method,
                        path,
                    )
                fingerprint = hashlib.sha256(
                    json.dumps([method, path, raw], sort_keys=True).encode()
                ).hexdigest()
                try:
                    saved = self._idempotent_lookup(api_key, idem_key, fingerprint)
                except StripeAPIError as exc:
                    return self._error(exc, request_id, base_headers, method, path)
                if saved is not None:
                    status, saved_body = saved
                    hdrs = {
                        **base_headers,
                        "Idempotency-Key": idem_key,
                        "Idempotent-Replayed": "true",
                    }
                    self._run_hooks(method, path, status, saved_body, version)
                    return Response(status, saved_body, hdrs)
            ctx = Ctx(
                app=self,
                request_id=request_id,
                idempotency_key=idem_key,
                api_version=version,
                method=method,
                path=path,
            )
            status, out = self._run_handler(ctx, route, params, path_params, version)
            if idem_key:
                self.store.execute(
                    "INSERT OR REPLACE INTO idempotency (api_key, key, fingerprint, status, body, "
                    "created) VALUES (?, ?, ?, ?, ?, ?)",
                    (api_key, idem_key, fingerprint, status, out.decode(), time.time()),
                )
        if ctx.emitted:
            self.dispatcher.notify()
        hdrs = dict(base_headers)
        if idem_key:
            hdrs["Idempotency-Key"] = idem_key
        self._run_hooks(method, path, status, out, version)
        return Response(status, out, hdrs)

    def _parse_api_request(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        version: str,
    ) -> tuple[routing.Route, dict[str, str], JSONDict, JSONDict]:
        """Auth, API version, route, then the parameters decoded and validated."""
        self._authenticate(headers.get("authorization", ""))
        check_version(version)
        found = routing.match(method, path)
        if found is None:
            raise not_found_route(method, path)
        route, path_params = found
        raw = decode_form(query)
        if body:
            raw.update(decode_form(body.decode("utf-8")))
        if route.params:
            params = validate(schema_for(route.params), raw)
        else:
            params = validate(schema_for("CustomerRetrieveParams"), raw)
        return route, path_params, raw, params

    def _run_handler(
        self,
        ctx: Ctx,
        route: routing.Route,
        params: JSONDict,
        path_params: dict[str, str],
        version: str,
    ) -> tuple[int, bytes]:
        """Run the handler in a savepoint and render its answer (status, JSON body)."""
        request_id, method, path = ctx.request_id, ctx.method, ctx.path
        try:
            kept: StripeAPIError | None = None
            with self.store.atomic():
                try:
                    result = route.handler(ctx, params, **path_params)
                except StripeAPIError as exc:
                    if not exc.keep_state:
                        raise
                    # e.g. a declined payment: Stripe keeps the failed
                    # attempt (charge, events) and still answers 402.
                    kept = exc
                else:
                    payload = render_version(render(ctx, result, params.get("expand")), version)
            if kept is not None:
                raise kept
            return 200, json.dumps(payload).encode()
        except StripeAPIError as exc:
            if not exc.keep_state:
                ctx.emitted.clear()
            return exc.status, json.dumps(exc.body(request_id)).encode()
        except Exception:
            logger.exception("handler crashed: %s %s (request %s)", method, path, request_id)
            exc2 = api_error()
            ctx.emitted.clear()
            return exc2.status, json.dumps(exc2.body(request_id)).encode()

    def _idempotent_lookup(
        self, api_key: str, key: str, fingerprint: str
    ) -> tuple[int, bytes] | None:
        self.store.execute(
            "DELETE FROM idempotency WHERE created < ?", (time.time() - IDEMPOTENCY_TTL_SECONDS,)
        )
        rows = self.store.execute(
            "SELECT fingerprint, status, body FROM idempotency WHERE api_key = ? AND key = ?",
            (api_key, key),
        )
        if not rows:
            return None
        row = rows[0]
        if row["fingerprint"] != fingerprint:
            raise StripeAPIError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
                type="idempotency_error",
            )
        return int(row["status"]), str(row["body"]).encode()

    # -- speed and rate limits (limits.py) -------------------------------------

    def _sleep_latency(self) -> None:
        p50, p99 = self.config.latency_percentiles()
        if p50 > 0:
            time.sleep(latency_sample_ms(p50, p99) / 1000)

    def _rate_limit_refusal(
        self, method: str, path: str, headers: dict[str, str]
    ) -> StripeAPIError | None:
        """Stripe's 429 when this key went over its global or endpoint limit, else None."""
        if self.config.rate_limit <= 0:
            return None
        found = routing.match(method, path)
        pattern = found[0].pattern if found is not None else path
        endpoint_limit = self.config.endpoint_rate_limit
        if pattern.endswith("/search"):  # the Search API: 20 reads per second
            search_limit = STRIPE_SEARCH_RATE_LIMIT
            endpoint_limit = min(endpoint_limit or search_limit, search_limit)
        refusal = self.rate_limiter.check(
            self._api_key(headers.get("authorization", "")) or "",
            endpoint_of(method, pattern),
            global_limit=self.config.rate_limit,
            endpoint_limit=endpoint_limit,
        )
        if refusal is None:
            return None
        return StripeAPIError(
            429,
            RATE_LIMIT_MESSAGE,
            code="rate_limit",
            type="invalid_request_error",
            headers={"Stripe-Rate-Limited-Reason": refusal.reason},
        )

    # -- pieces --------------------------------------------------------------

    def _cross_site(self, headers: dict[str, str]) -> str | None:
        """The header by which a browser says the request comes from another site, or None.

        Requests without these headers come from programs (the SDKs, tests,
        curl), not from a web page, and are let through.
        """
        site = headers.get("sec-fetch-site", "").strip().lower()
        if site:
            return None if site in ("same-origin", "none") else f"Sec-Fetch-Site: {site}"
        origin = headers.get("origin", "").strip()
        if not origin:
            return None
        own = {headers.get("host", "").strip().lower()}
        if self.config.public_url:
            own.add(urlsplit(self.config.public_url).netloc.lower())
        if origin.lower() != "null" and urlsplit(origin).netloc.lower() in own - {""}:
            return None
        return f"Origin: {origin}"

    def _refusal(self, method: str, headers: dict[str, str], *, helper: bool) -> Response | None:
        """A 403/415 for a state-changing request a web page on another site could send."""
        if method in SAFE_METHODS:
            return None
        foreign = self._cross_site(headers)
        if foreign is not None:
            logger.warning("refused a cross-site %s request (%s)", method, foreign)
            message = (
                f"Refused a cross-site request ({foreign}): the emulator's test helpers and "
                "hosted pages only take requests from its own pages and from programs."
            )
            if not helper:
                from .pages.html import error_page

                return error_page(403, "Cross-site request refused", message)
            return Response(403, json.dumps(invalid_request(message, status=403).body()).encode())
        media_type = headers.get("content-type", "").partition(";")[0].strip().lower()
        if helper and method == "POST" and media_type != "application/json":
            message = (
                "Test helpers take a JSON body: send 'Content-Type: application/json' "
                f"(got {media_type or 'no content type'!r}). Web pages on other sites cannot, "
                "so they cannot reset or change the emulator from a visitor's browser."
            )
            return Response(415, json.dumps(invalid_request(message, status=415).body()).encode())
        return None

    @staticmethod
    def _api_key(authorization: str) -> str | None:
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer":
            return value or None
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value).decode()
            except (ValueError, UnicodeDecodeError):
                return None
            return decoded.partition(":")[0] or None
        return None

    def _authenticate(self, authorization: str) -> None:
        if not authorization.strip():
            raise authentication(
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY')."
            )
        key = self._api_key(authorization)
        if key is None:
            raise authentication(
                "Invalid API Key provided. Use Bearer auth or HTTP basic auth with the key "
                "as the username."
            )
        if not key.startswith(("sk_test_", "rk_test_")) or len(key) <= len("sk_test_"):
            shown = key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else "****"
            raise authentication(
                f"Invalid API Key provided: {shown}. The emulator accepts any test-mode "
                "secret key (sk_test_...)."
            )

    def _error(
        self, exc: StripeAPIError, request_id: str, headers: dict[str, str], method: str, path: str
    ) -> Response:
        body = json.dumps(exc.body(request_id)).encode()
        self._run_hooks(method, path, exc.status, body, headers.get("Stripe-Version", ""))
        return Response(exc.status, body, {**headers, **exc.headers})

    def _run_hooks(
        self, method: str, path: str, status: int, body: bytes, version: str = ""
    ) -> None:
        if not self.response_hooks and not self.versioned_response_hooks:
            return
        parsed = json.loads(body)
        for hook in self.response_hooks:
            hook(method, path, status, parsed)
        for versioned in self.versioned_response_hooks:
            versioned(method, path, status, parsed, version)

    def _handle_helper(self, method: str, path: str, query: str, body: bytes) -> Response:
        found = routing.match(method, path)
        if found is None or not found[0].helper:
            err = invalid_request(f"Unknown test helper: {method} {path}", status=404)
            return Response(404, json.dumps(err.body()).encode())
        route, path_params = found
        try:
            payload: JSONDict = json.loads(body) if body.strip() else {}
            if query:
                payload.update({k: v for k, v in decode_form(query).items() if k not in payload})
        except ValueError:
            return Response(400, json.dumps({"error": {"message": "Invalid JSON body"}}).encode())
        ctx = Ctx(app=self, method=method, path=path)
        try:
            result = route.handler(ctx, payload, **path_params)
            status = 200
        except StripeAPIError as exc:
            result, status = exc.body(), exc.status
        if ctx.emitted:
            self.dispatcher.notify()
        if isinstance(result, Response):
            return result
        return Response(status, json.dumps(result).encode())
