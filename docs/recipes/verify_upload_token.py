"""Verify tpx upload tokens in a Python upload service, with PyJWT (2.6 or later).

    verifier = UploadTokenVerifier("https://tpx.example.org")   # TPX_PUBLIC_URL; once
    try:
        claims = verifier.verify(password, project)   # the password of the user __token__
    except KeysUnavailable:
        ...   # 503: tpx's keys cannot be fetched now; the token may be fine, retry
    except InvalidToken as e:
        ...   # 403: str(e) says which check failed; it never contains the token

Run as a program, it reads a token on stdin and prints one JSON line: the HTTP status an
upload service would answer, and the claims or the reason.

    python3 verify_upload_token.py ISSUER PROJECT < token
"""

import json
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import jwt

PREFIX = "tpx_"
AUDIENCE = "tpx-upload"
TYPE = "tpx-upload+jwt"
# Clock skew forgiven on exp, nbf and iat. tpx also puts nbf 30 s before iat, so a clock
# running up to 30 s behind tpx's accepts a fresh token even without leeway.
LEEWAY = 30
REQUIRED = ["iss", "aud", "sub", "exp", "nbf", "iat", "jti", "projects"]
MAX_TOKEN_BYTES = 16 << 10
# Key cache: an unknown kid refetches at most once per COOLDOWN; keys older than REFRESH
# are refetched; keys that could not be refreshed for MAX_STALE are not trusted.
COOLDOWN = 60
REFRESH = 3600
MAX_STALE = 24 * 3600
FETCH_TIMEOUT = 5
MAX_JWKS_BYTES = 256 << 10


class InvalidToken(Exception):
    """The token must be refused (403)."""


class KeysUnavailable(Exception):
    """tpx's keys cannot be fetched: answer 503, not "invalid"."""


def project_key(name):
    """PEP 503 normalisation: "Sample_Project" and "sample-project" are one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _is_loopback(host):
    return host in ("localhost", "::1") or host.startswith("127.")


class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    """Keys come from tpx's host and nowhere else, redirects included."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        old, new = urllib.parse.urlsplit(req.full_url), urllib.parse.urlsplit(newurl)
        if (old.scheme, old.netloc) != (new.scheme, new.netloc):
            raise urllib.error.URLError(f"redirect to another host refused: {new.netloc}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class UploadTokenVerifier:
    def __init__(self, issuer):
        url = urllib.parse.urlsplit(issuer)
        if url.scheme != "https" and not (url.scheme == "http" and _is_loopback(url.hostname or "")):
            raise ValueError("tpx's URL must be https (plain http only on loopback)")
        self.issuer = issuer
        self.jwks_url = issuer.rstrip("/") + "/.well-known/jwks.json"
        self._opener = urllib.request.build_opener(_SameHostRedirects)
        self._lock = threading.Lock()
        self._keys = {}
        self._fetched_at = 0.0
        self._last_attempt = None
        self._last_error = None

    def _fetch(self):
        req = urllib.request.Request(self.jwks_url, headers={"Accept": "application/json"})
        with self._opener.open(req, timeout=FETCH_TIMEOUT) as resp:
            body = resp.read(MAX_JWKS_BYTES + 1)
        if len(body) > MAX_JWKS_BYTES:
            raise ValueError("key set too large")
        keys = {}
        for jwk in json.loads(body).get("keys", []):
            if (jwk.get("kty") == "EC" and jwk.get("crv") == "P-256" and jwk.get("kid")
                    and jwk.get("alg", "ES256") == "ES256" and jwk.get("use", "sig") == "sig"):
                keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm="ES256").key
        if not keys:
            raise ValueError("no ES256 keys in the key set")
        return keys

    def _key(self, kid):
        # One lock: concurrent requests share one fetch instead of each making their own.
        with self._lock:
            now = time.time()
            key = self._keys.get(kid)
            if key is not None and now - self._fetched_at < REFRESH:
                return key
            if self._last_attempt is None or now - self._last_attempt >= COOLDOWN:
                self._last_attempt = now
                try:
                    self._keys, self._fetched_at, self._last_error = self._fetch(), time.time(), None
                except Exception as e:  # a bad answer never replaces good keys
                    self._last_error = e
            if not self._keys or time.time() - self._fetched_at > MAX_STALE:
                raise KeysUnavailable(f"tpx's keys cannot be fetched from {self.jwks_url}: {self._last_error}")
            key = self._keys.get(kid)
            if key is None and self._last_error is not None:
                raise KeysUnavailable(f"key {kid!r} is not cached and {self.jwks_url} cannot be fetched: {self._last_error}")
            if key is None:
                raise InvalidToken(f"signed with a key tpx does not publish ({kid!r})")
            return key

    def verify(self, token, project):
        """Return the claims of token if it may upload to project."""
        if not isinstance(token, str) or not token.startswith(PREFIX) or len(token) > MAX_TOKEN_BYTES:
            raise InvalidToken("not a tpx upload token")
        jws = token[len(PREFIX):]
        try:
            header = jwt.get_unverified_header(jws)
        except jwt.InvalidTokenError as e:
            raise InvalidToken(f"malformed: {e}") from None
        if header.get("alg") != "ES256":
            raise InvalidToken(f"algorithm {header.get('alg')!r} is not ES256")
        if str(header.get("typ", "")).lower() != TYPE:
            raise InvalidToken(f"typ is {header.get('typ')!r}, not {TYPE!r}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("no kid in the header")
        key = self._key(kid)
        try:
            claims = jwt.decode(jws, key, algorithms=["ES256"], audience=AUDIENCE, issuer=self.issuer,
                                leeway=LEEWAY, options={"require": REQUIRED})
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.InvalidTokenError as e:
            raise InvalidToken(f"{type(e).__name__}: {e}") from None
        # PyJWT also accepts an aud list that merely contains ours; tpx never mints one.
        if claims["aud"] != AUDIENCE:
            raise InvalidToken("aud must be exactly " + AUDIENCE)
        projects = claims["projects"]
        if not isinstance(projects, list) or project_key(project) not in {
                project_key(p) for p in projects if isinstance(p, str)}:
            raise InvalidToken(f"this token may not upload to {project}")
        return claims


def main(argv):
    issuer, project = argv[1], argv[2]
    token = sys.stdin.read().strip()
    try:
        claims = UploadTokenVerifier(issuer).verify(token, project)
        out = {"status": 200, "claims": claims}
    except KeysUnavailable as e:
        out = {"status": 503, "error": str(e)}
    except InvalidToken as e:
        out = {"status": 403, "error": str(e)}
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv)
