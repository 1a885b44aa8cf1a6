"""A small OpenID Connect provider for the browser suite only: loopback, one public client,
authorisation code with PKCE (S256 only), refresh tokens, RS256 access tokens with the RAVIS
claims, and the JWKS that `ravis serve --jwt-jwks-url` fetches. Standard library only: the
RSA key and its PKCS #1 v1.5 signatures are computed here (RFC 8017), so no package is
installed for it. Never use it for anything but tests."""

import base64
import hashlib
import json
import math
import re
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# DER prefix of a SHA-256 DigestInfo (RFC 8017, section 9.2, note 1).
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
VERIFIER_RE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
SMALL_PRIMES = [p for p in range(3, 2000, 2) if all(p % q for q in range(3, int(p**0.5) + 1, 2))]


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_bytes(n):
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def _probably_prime(n, rounds=40):
    for p in SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    for _ in range(rounds):  # Miller–Rabin
        x = pow(secrets.randbelow(n - 3) + 2, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits):
    while True:
        # The two top bits set, so the product of two has exactly twice the bits.
        candidate = secrets.randbits(bits) | (3 << (bits - 2)) | 1
        if _probably_prime(candidate):
            return candidate


class RsaKey:
    """An RSA key pair (e = 65537) that signs RS256 (RSASSA-PKCS1-v1_5 with SHA-256)."""

    def __init__(self, bits=2048):
        e = 65537
        while True:
            p, q = _prime(bits // 2), _prime(bits // 2)
            phi = (p - 1) * (q - 1)
            if p != q and math.gcd(e, phi) == 1:
                break
        self.n, self.e, self.d = p * q, e, pow(e, -1, phi)
        self.size = (self.n.bit_length() + 7) // 8

    def sign(self, message):
        digest_info = SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
        encoded = b"\x00\x01" + b"\xff" * (self.size - len(digest_info) - 3) + b"\x00" + digest_info
        return pow(int.from_bytes(encoded, "big"), self.d, self.n).to_bytes(self.size, "big")

    def jwk(self, kid):
        return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64u(_int_bytes(self.n)), "e": b64u(_int_bytes(self.e))}


def s256(verifier):
    """The PKCE S256 challenge of a verifier (RFC 7636, section 4.2)."""
    return b64u(hashlib.sha256(verifier.encode("ascii")).digest())


class Provider:
    """The provider, serving on a free loopback port from a background thread.

    `user` is who signs in (the authorize endpoint asks nothing: it redirects back with a
    code at once); `token_lifetime` the access tokens' seconds; `refresh_allowed` False makes
    the token endpoint refuse refresh tokens (as after a revocation); `issue_refresh` False
    makes it give none; `grants` records every token request as (grant_type, accepted)."""

    def __init__(self, client_id, redirect_uri, audience, user):
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.audience = audience
        self.user = dict(user)
        self.token_lifetime = 300
        self.refresh_allowed = True
        self.issue_refresh = True
        self.grants = []
        self.key = RsaKey()
        self.kid = "web-test-" + secrets.token_hex(4)
        self._codes = {}
        self._refresh = {}
        self._lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args):
                pass

            def do_OPTIONS(self):  # noqa: N802 - the http.server interface
                self._answer(204, b"", "text/plain")

            def do_GET(self):  # noqa: N802
                url = urllib.parse.urlsplit(self.path)
                if url.path == "/.well-known/openid-configuration":
                    self._json(200, provider.discovery())
                elif url.path == "/jwks":
                    self._json(200, {"keys": [provider.key.jwk(provider.kid)]})
                elif url.path == "/authorize":
                    status, location, reason = provider.authorize(dict(urllib.parse.parse_qsl(url.query)))
                    if location:
                        self.send_response(302)
                        self.send_header("Location", location)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                    else:
                        self._answer(status, reason.encode(), "text/plain; charset=utf-8")
                else:
                    self._answer(404, b"not found", "text/plain")

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                if urllib.parse.urlsplit(self.path).path != "/token":
                    self._answer(404, b"not found", "text/plain")
                    return
                status, body = provider.token(form)
                self._json(status, body)

            def _json(self, status, body):
                self._answer(status, json.dumps(body).encode(), "application/json")

            def _answer(self, status, body, content_type):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                # The client reads discovery and the token endpoint from its own origin.
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Allow-Headers", "Content-Type")
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()

    def discovery(self):
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def authorize(self, q):
        """(status, redirect location or None, reason)."""
        if q.get("client_id") != self.client_id or q.get("redirect_uri") != self.redirect_uri:
            return 400, None, "unknown client or redirect_uri"
        if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return 400, None, "only response_type=code with an S256 code_challenge"
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = {"challenge": q["code_challenge"], "expires": time.time() + 60}
        query = urllib.parse.urlencode({"code": code, "state": q.get("state", "")})
        return 302, f"{self.redirect_uri}?{query}", ""

    def token(self, form):
        """(status, JSON body) of the token endpoint."""
        grant = form.get("grant_type")
        status, body = self._token(grant, form)
        with self._lock:
            self.grants.append((grant, status == 200))
        return status, body

    def _token(self, grant, form):
        refused = lambda why: (400, {"error": "invalid_grant", "error_description": why})  # noqa: E731
        if form.get("client_id") != self.client_id:
            return 400, {"error": "invalid_client"}
        if grant == "authorization_code":
            with self._lock:
                pending = self._codes.get(form.get("code", ""))
                if pending is None or pending["expires"] < time.time():
                    return refused("unknown or expired code")
                if form.get("redirect_uri") != self.redirect_uri:
                    return refused("redirect_uri differs from the authorisation request")
                verifier = form.get("code_verifier", "")
                # A wrong verifier is refused; the code stays for its rightful holder.
                if not VERIFIER_RE.match(verifier) or s256(verifier) != pending["challenge"]:
                    return refused("code_verifier does not match the code_challenge")
                del self._codes[form["code"]]
            return 200, self._tokens()
        if grant == "refresh_token":
            with self._lock:
                if not self.refresh_allowed or self._refresh.pop(form.get("refresh_token", ""), None) is None:
                    return refused("unknown or revoked refresh token")
            return 200, self._tokens()
        return 400, {"error": "unsupported_grant_type"}

    def _tokens(self):
        with self._lock:
            lifetime = self.token_lifetime
            tokens = {"access_token": self.access_token(lifetime), "token_type": "Bearer", "expires_in": lifetime,
                      "scope": "openid"}
            if self.issue_refresh:
                tokens["refresh_token"] = secrets.token_urlsafe(32)
                self._refresh[tokens["refresh_token"]] = True
        return tokens

    def access_token(self, lifetime):
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        claims = {"iss": self.issuer, "aud": self.audience, "iat": now, "nbf": now, "exp": now + lifetime, **self.user}
        signing_input = f"{b64u(json.dumps(header).encode())}.{b64u(json.dumps(claims).encode())}"
        return f"{signing_input}.{b64u(self.key.sign(signing_input.encode()))}"
