"""REST endpoints outside storage (``/rest`` = rest.fal.ai): realtime tokens and the JWKS."""

from __future__ import annotations

from typing import Optional

from starlette.responses import Response

from ._exchange import Exchange, detail_response, json_response
from ._routing import Route

#: The longest realtime token lifetime the emulator grants, in seconds.
MAX_TOKEN_EXPIRATION = 24 * 3600


async def realtime_token(ex: Exchange, route: Route) -> Optional[Response]:
    """``POST /rest/tokens/`` with ``{allowed_apps: [alias], token_expiration: s}``.

    Answers the token as a bare JSON string, as fal does.
    """
    body = await ex.json_body(default={})
    allowed = body.get("allowed_apps") if isinstance(body, dict) else None
    if not isinstance(allowed, list) or not all(isinstance(app, str) for app in allowed):
        return detail_response(422, "allowed_apps must be a list of app aliases")
    expiration = body.get("token_expiration", 120)
    if not isinstance(expiration, (int, float)) or not 0 < expiration <= MAX_TOKEN_EXPIRATION:
        return detail_response(422, "token_expiration must be a positive number of seconds")
    token = ex.state.tokens.issue_realtime_token(allowed, float(expiration))
    return json_response(200, token)


async def jwks(ex: Exchange, route: Route) -> Optional[Response]:
    """``GET /rest/.well-known/jwks.json``: the key webhooks are signed with."""
    return json_response(200, ex.state.signer.jwks())
