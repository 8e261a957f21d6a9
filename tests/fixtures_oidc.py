"""A small OpenID Connect provider on a local port, for the OIDC sign-in test (real HTTP, real
signatures): discovery document, authorization endpoint (a one-field form: the e-mail to sign in
as), token endpoint (client_secret_basic or _post, one-use codes), JWKS and userinfo. ID tokens
are RS256 JWTs signed with joserfc (Authlib's JOSE library), carrying iss, aud, sub, email,
email_verified, nonce, groups, iat and exp.
"""
from __future__ import annotations

import base64
import html
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

CLIENT_ID = "console-test"
CLIENT_SECRET = "console-test-secret-" + "x" * 8
#: e-mail -> groups claim
GROUPS = {"alice@example.com": ["ops"], "bob@example.com": [], "mallory@evil.test": []}


class Provider:
    def __init__(self):
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig", "alg": "RS256"})
        self.codes: dict[str, dict] = {}
        self.tokens: dict[str, dict] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def metadata_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    def _claims(self, email: str, nonce: str | None) -> dict:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": CLIENT_ID, "sub": "sub-" + email, "email": email,
                  "email_verified": True, "groups": GROUPS.get(email, []), "iat": now, "exp": now + 600}
        if nonce:
            claims["nonce"] = nonce
        return claims

    def _handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, body: str | bytes, ctype: str = "application/json", headers=None):
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    i = provider.issuer
                    self._send(200, json.dumps({
                        "issuer": i, "authorization_endpoint": i + "/authorize", "token_endpoint": i + "/token",
                        "jwks_uri": i + "/jwks", "userinfo_endpoint": i + "/userinfo",
                        "response_types_supported": ["code"], "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                        "scopes_supported": ["openid", "email", "profile"],
                        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                        "code_challenge_methods_supported": ["S256"]}))
                elif url.path == "/jwks":
                    self._send(200, json.dumps(KeySet([provider.key]).as_dict(private=False)))
                elif url.path == "/authorize":
                    if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
                        self._send(400, '{"error": "invalid_request"}')
                        return
                    hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                                     for k, v in q.items())
                    self._send(200, f'<html><body><form method="post" action="/authorize">{hidden}'
                                    f'<label>E-mail <input name="email" id="email"></label>'
                                    f'<button type="submit">Continue</button></form></body></html>', "text/html")
                elif url.path == "/userinfo":
                    token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
                    info = provider.tokens.get(token)
                    self._send(200 if info else 401, json.dumps(info or {"error": "invalid_token"}))
                else:
                    self._send(404, "{}")

            def do_POST(self):
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if url.path == "/authorize":
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = {"email": form["email"], "nonce": form.get("nonce"),
                                            "redirect_uri": form["redirect_uri"]}
                    back = {"code": code, **({"state": form["state"]} if "state" in form else {})}
                    self._send(302, "", "text/plain", {"Location": form["redirect_uri"] + "?" + urlencode(back)})
                elif url.path == "/token":
                    auth = self.headers.get("Authorization") or ""
                    if auth.startswith("Basic "):
                        cid, _, csec = base64.b64decode(auth[6:]).decode().partition(":")
                    else:
                        cid, csec = form.get("client_id"), form.get("client_secret")
                    grant = provider.codes.pop(form.get("code", ""), None)
                    if (cid, csec) != (CLIENT_ID, CLIENT_SECRET) or grant is None \
                            or grant["redirect_uri"] != form.get("redirect_uri"):
                        self._send(400, '{"error": "invalid_grant"}')
                        return
                    claims = provider._claims(grant["email"], grant["nonce"])
                    id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, provider.key)
                    access = secrets.token_urlsafe(16)
                    provider.tokens[access] = {k: v for k, v in claims.items() if k not in ("aud", "nonce")}
                    self._send(200, json.dumps({"access_token": access, "token_type": "Bearer", "expires_in": 600,
                                                "id_token": id_token, "scope": "openid email profile"}))
                else:
                    self._send(404, "{}")

        return Handler


@pytest.fixture(scope="module")
def oidc_provider():
    p = Provider()
    p.thread.start()
    yield p
    p.server.shutdown()
    p.server.server_close()
