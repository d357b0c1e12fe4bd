"""Customer portal API: configurations and sessions (`engine/portal.py` makes them;
the pages are in pages/portal_page.py)."""

from __future__ import annotations

import copy
from typing import Any

from ..context import Ctx
from ..engine.portal import (
    apply_features,
    business_profile,
    ensure_default_configuration,
    portal_configuration_create,
    portal_session_create,
    portal_url,
)
from ..errors import invalid_request
from ..ids import random_token
from ..listing import paginate
from ..routing import helper_route, route
from ..updates import apply_metadata

JSONDict = dict[str, Any]


@route(
    "POST", "/v1/billing_portal/configurations", params="billing_portal.ConfigurationCreateParams"
)
def create_configuration(ctx: Ctx, params: JSONDict) -> JSONDict:
    return portal_configuration_create(ctx, params)


@route(
    "GET",
    "/v1/billing_portal/configurations/{id}",
    params="billing_portal.ConfigurationRetrieveParams",
)
def retrieve_configuration(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return ctx.get("billing_portal.configuration", id)


@route(
    "POST",
    "/v1/billing_portal/configurations/{id}",
    params="billing_portal.ConfigurationUpdateParams",
)
def update_configuration(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    config = ctx.get("billing_portal.configuration", id)
    before = copy.deepcopy(config)
    if "active" in params:
        if config["is_default"] and not params["active"]:
            raise invalid_request(
                "You cannot deactivate the default configuration.", param="active"
            )
        config["active"] = params["active"]
    if "business_profile" in params:
        config["business_profile"] = business_profile(
            config["business_profile"], params["business_profile"]
        )
    if "default_return_url" in params:
        config["default_return_url"] = params["default_return_url"] or None
    if "features" in params:
        config["features"] = apply_features(ctx, config["features"], params["features"])
    if "metadata" in params:
        config["metadata"] = apply_metadata(config.get("metadata"), params["metadata"])
    if "name" in params:
        config["name"] = params["name"] or None
    if "login_page" in params:
        enabled = bool((params["login_page"] or {}).get("enabled"))
        config["login_page"] = {
            "enabled": enabled,
            "url": portal_url(ctx, "login_" + random_token(20)) if enabled else None,
        }
    if config != before:
        config["updated"] = ctx.now()
        ctx.save(config)
        ctx.emit("billing_portal.configuration.updated", config, previous=before)
    return config


@route("GET", "/v1/billing_portal/configurations", params="billing_portal.ConfigurationListParams")
def list_configurations(ctx: Ctx, params: JSONDict) -> JSONDict:
    def keep(c: JSONDict) -> bool:
        if "active" in params and c.get("active") != params["active"]:
            return False
        return not ("is_default" in params and c.get("is_default") != params["is_default"])

    return paginate(
        ctx.store.all("billing_portal.configuration", keep),
        params,
        "/v1/billing_portal/configurations",
        object_label="billing_portal.configuration",
    )


@route("POST", "/v1/billing_portal/sessions", params="billing_portal.SessionCreateParams")
def create_portal_session(ctx: Ctx, params: JSONDict) -> JSONDict:
    return portal_session_create(ctx, params)


@helper_route("POST", "/_emulator/billing_portal/default_configuration")
def helper_default_configuration(ctx: Ctx, body: JSONDict) -> JSONDict:
    """Create (or return) a default configuration with every feature on."""
    from ..render import render

    with ctx.store.atomic():
        return dict(render(ctx, ensure_default_configuration(ctx, body)))
