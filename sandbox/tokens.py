"""The sandbox's codes and tokens: issued, exchanged, rotated and revoked under one lock.

One sign-in (one code exchange) starts a *chain*: its current refresh token, the refresh
tokens it rotated out, and every access token it issued. Replaying a used code or a
rotated-out refresh token revokes the whole chain (RFC 6749 10.5, RFC 9700 4.14.2).

Only SHA-256 digests of codes and tokens are kept, in memory and in the optional state
file, so that file holds nothing a reader could replay.

Access tokens are JWTs, as ilert's are (iLert/docs, developer-docs/rest-api/
developing-ilert-apps/understanding-oauth2.md: "ilert uses JWT tokens"), with the claims of
the example token in developing-a-backend-app-with-oauth2.md: `iss` "ilert", `il_t` "ACCESS",
`il_v` 1, `il_u` the username, `il_s` the scope, `il_a` the app id, `exp`, and `il_n` (here
the tenant), plus a random `jti`. They are HS256-signed with a key made at start and never
kept, and checked, like every token here, by their digest: a token the sandbox did not issue
(or forgot) is unknown whatever it claims. Refresh tokens stay opaque.
"""

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time

from sandbox.statefile import StateFile

APP_ID = 250  # the sandbox app's id, as token_info and the access token's il_a report it
TENANT_ID = "sandbox"
REFRESH_TOKEN_TTL = 365 * 24 * 3600  # a year, as at ilert
MAX_CHAINS = 10  # live refresh tokens per app and person, as at ilert
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636 4.1

log = logging.getLogger(__name__)


class OAuthError(Exception):
    """A token request the sandbox refuses, answered in ilert's shape."""

    def __init__(self, code, description):
        super().__init__(description)
        self.code = code
        self.description = description

    @property
    def status(self):
        """ilert answers `invalid_client` and `invalid_grant` with 401, the rest with 400."""
        return 401 if self.code in ("invalid_client", "invalid_grant") else 400


def _digest(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


# What every access token starts with: its encoded JWT header.
ACCESS_TOKEN_PREFIX = _b64url(b'{"typ":"JWT","alg":"HS256"}') + "."


def decode_claims(token: str) -> dict:
    """The claims of an access token (its JWT payload), unchecked: what a client sees."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _s256(verifier):
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class TokenStore:
    """Codes, chains and tokens, kept in the `tokens` section of `state_file` (if any) after
    each change."""

    def __init__(self, access_token_ttl=3600, code_ttl=120, state_file=None, clock=time.time):
        self.access_token_ttl = access_token_ttl
        self.code_ttl = code_ttl
        self._clock = clock  # every lifetime is measured on it, so tests can move it
        self._file = state_file or StateFile(None)
        self._signing_key = secrets.token_bytes(32)  # never kept: tokens are checked by digest
        self._lock = threading.Lock()
        self._codes = {}  # code digest -> the grant it stands for
        self._chains = {}  # chain id -> the sign-in: person, scope, current refresh token
        self._access = {}  # access token digest -> {"chain", "expires_at"}
        self._refresh = {}  # refresh token digest (current or rotated out) -> chain id
        self._load()

    def issue_code(self, *, client_id, redirect_uri, scope, user, challenge):
        """A fresh authorization code for a grant the person just allowed."""
        code = "sbx_code_" + secrets.token_urlsafe(32)
        with self._lock:
            now = self._clock()
            self._purge(now)
            self._codes[_digest(code)] = {
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "scope": scope,
                "user": user,
                "challenge": challenge,
                "expires_at": now + self.code_ttl,
                "used": False,
                "chain": None,
            }
            self._save()
        return code

    def exchange_code(self, *, client_id, code, redirect_uri, verifier):
        """Tokens for a code, which any attempt uses up; a replayed code revokes its tokens."""
        with self._lock:
            now = self._clock()
            self._purge(now)
            grant = self._codes.get(_digest(code))
            if grant is None:
                raise OAuthError("invalid_grant", "Provided code is unknown")
            if grant["used"]:
                self._revoke_chain(grant["chain"])
                self._save()
                raise OAuthError(
                    "invalid_grant",
                    "Provided code was already used; the tokens issued for it are revoked",
                )
            grant["used"] = True
            problem = _code_problem(grant, client_id, redirect_uri, verifier)
            if problem:
                self._save()
                raise OAuthError("invalid_grant", problem)
            chain_id = secrets.token_hex(8)
            self._chains[chain_id] = {
                "client_id": client_id,
                "user": grant["user"],
                "scope": grant["scope"],
            }
            grant["chain"] = chain_id
            body = self._issue(chain_id, now)
            self._limit_chains(client_id, grant["user"])
            self._save()
            return body

    def refresh(self, *, client_id, refresh_token):
        """New tokens for the current refresh token of a chain, which rotates."""
        with self._lock:
            now = self._clock()
            self._purge(now)
            digest = _digest(refresh_token)
            chain_id = self._refresh.get(digest)
            chain = self._chains.get(chain_id)
            if chain is None or chain["client_id"] != client_id:
                raise OAuthError("invalid_grant", "Provided refresh token is unknown")
            if chain["refresh"] != digest:
                self._revoke_chain(chain_id)
                self._save()
                raise OAuthError(
                    "invalid_grant",
                    "Provided refresh token was already used; every token of this sign-in "
                    "is revoked",
                )
            body = self._issue(chain_id, now)
            self._save()
            return body

    def access_token(self, token):
        """`{"user", "scope", "client_id"}` of a live access token, else None."""
        with self._lock:
            self._purge(self._clock())
            entry = self._access.get(_digest(token))
            if entry is None:
                return None
            chain = self._chains[entry["chain"]]
            return {key: chain[key] for key in ("user", "scope", "client_id")}

    def revoke(self, token):
        """Revoke an access token alone, or a refresh token with its whole chain."""
        with self._lock:
            self._purge(self._clock())
            digest = _digest(token)
            if self._access.pop(digest, None) is None:
                self._revoke_chain(self._refresh.get(digest))
            self._save()

    def _issue(self, chain_id, now):
        """Give the chain a new access token and a new current refresh token."""
        chain = self._chains[chain_id]
        access_token = self._jwt(chain, now)
        refresh_token = "sbx_rt_" + secrets.token_urlsafe(32)
        self._access[_digest(access_token)] = {
            "chain": chain_id,
            "expires_at": now + self.access_token_ttl,
        }
        chain["refresh"] = _digest(refresh_token)
        chain["refresh_issued_at"] = now
        chain["refresh_expires_at"] = now + REFRESH_TOKEN_TTL
        self._refresh[chain["refresh"]] = chain_id
        return {
            "token_type": "Bearer",
            "access_token": access_token,
            "expires_in": self.access_token_ttl,
            "scope": chain["scope"],
            "refresh_token": refresh_token,
            "refresh_token_expires_in": REFRESH_TOKEN_TTL,
        }

    def _jwt(self, chain, now):
        """A signed JWT with ilert's access-token claims for this chain."""
        claims = {
            "iss": "ilert",
            "il_t": "ACCESS",
            "il_v": 1,
            "il_n": TENANT_ID,
            "il_a": APP_ID,
            "il_u": chain["user"],
            "il_s": chain["scope"],
            "exp": int(now + self.access_token_ttl),
            "jti": secrets.token_urlsafe(16),
        }
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = ACCESS_TOKEN_PREFIX + payload
        signature = hmac.new(self._signing_key, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64url(signature)}"

    def _limit_chains(self, client_id, user):
        """Revoke the oldest refresh tokens of this app and person beyond MAX_CHAINS."""
        chains = sorted(
            (chain["refresh_issued_at"], chain_id)
            for chain_id, chain in self._chains.items()
            if chain["client_id"] == client_id and chain["user"] == user
        )
        for _, chain_id in chains[:-MAX_CHAINS]:
            self._revoke_chain(chain_id)

    def _revoke_chain(self, chain_id):
        """Forget a chain and every token it issued (a no-op for None or a gone chain)."""
        if self._chains.pop(chain_id, None) is None:
            return
        self._access = {d: e for d, e in self._access.items() if e["chain"] != chain_id}
        self._refresh = {d: c for d, c in self._refresh.items() if c != chain_id}

    def _purge(self, now):
        """Drop what has expired, so that lookups need not check expiry."""
        self._codes = {d: g for d, g in self._codes.items() if g["expires_at"] > now}
        self._access = {d: e for d, e in self._access.items() if e["expires_at"] > now}
        for chain_id, chain in list(self._chains.items()):
            if chain["refresh_expires_at"] <= now:
                self._revoke_chain(chain_id)

    def _load(self):
        """Take the state file's section; a missing one starts empty, a broken one too,
        with a warning."""
        state = self._file.section("tokens")
        if state is None:
            return
        try:
            self._codes, self._chains = state["codes"], state["chains"]
            self._access, self._refresh = state["access"], state["refresh"]
            self._purge(self._clock())  # also proves the entries have the expected shape
        except (LookupError, TypeError, AttributeError) as error:
            log.warning("sandbox state file's tokens are unreadable (%r): starting empty", error)
            self._codes, self._chains, self._access, self._refresh = {}, {}, {}, {}
            self._file.forget("tokens")

    def _save(self):
        """Write the tokens section of the state file (digests only)."""
        state = {
            "codes": self._codes,
            "chains": self._chains,
            "access": self._access,
            "refresh": self._refresh,
        }
        self._file.save("tokens", state)


def _code_problem(grant, client_id, redirect_uri, verifier):
    """Why this token request may not redeem the code, or None if it may."""
    if grant["client_id"] != client_id:
        return "Provided code was issued to another client"
    if redirect_uri is not None and redirect_uri != grant["redirect_uri"]:
        return "redirect_uri differs from the one of the authorization request"
    challenge = grant["challenge"]
    if challenge is None:
        if verifier is not None:
            return "code_verifier sent, but the authorization request had no code_challenge"
        return None
    if verifier is None:
        return "code_verifier is required: the authorization request had a code_challenge"
    if not _VERIFIER.fullmatch(verifier) or not secrets.compare_digest(_s256(verifier), challenge):
        return "code_verifier does not match the code_challenge"
    return None
