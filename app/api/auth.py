"""Who an API request is: a Bearer token of a person, or HTTP Basic with an account's password.

``Authorization: Bearer cc_<id>_<secret>`` — `app.access.api_tokens.identify` (one Redis round trip,
the owner's current role caps the token's). ``Authorization: Basic base64(name:password)`` — the
console's password sign-in (`app.access.signin.sign_in_password`: throttled per account and address,
one argon2 verify and one "sign_in" audit entry per request, so scripts should prefer tokens), the
way Flower's ``--basic-auth`` is used. Both count against API_RATE_LIMIT_PER_MIN per token or
account. Nothing else is accepted: without credentials every route answers 401.
"""
from __future__ import annotations

import base64
import binascii

from app.access import Identity, api_tokens, signin

#: The WWW-Authenticate header of a 401: both schemes the API accepts.
CHALLENGE = 'Bearer realm="celery-console", Basic realm="celery-console"'


def authenticate(client, settings, authorization: str | None, peer: str) -> Identity:
    """The identity of a request from `peer` carrying the Authorization header `authorization`.

    Raises:
        TokenRefused: no credentials, an unknown scheme, or a bad/expired/revoked token.
        SignInRefused: wrong Basic name or password, or throttled sign-ins (audited).
        RateLimited: over API_RATE_LIMIT_PER_MIN this minute.
    """
    scheme, _, value = (authorization or "").strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer" and value:
        return api_tokens.identify(client, settings, value, peer)
    if scheme == "basic" and value:
        try:
            name, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise api_tokens.TokenRefused("Malformed Basic credentials.") from None
        if not sep:
            raise api_tokens.TokenRefused("Malformed Basic credentials: expected name:password.")
        api_tokens.count_request(client, settings, f"basic:{name[:64]}")
        return signin.sign_in_password(client, settings, name, password, peer)
    raise api_tokens.TokenRefused("Sign in: send 'Authorization: Bearer <token>' (python -m app tokens add NAME) "
                                  "or HTTP Basic with an account's name and password.")
