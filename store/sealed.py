"""Sealed entries: every value in the store is named and encrypted by the cookie it belongs to.

An entry belongs to a cookie value (a session id, or the nonce of a pending sign-in) and has a
purpose ("session", "tokens", "flow", ...). HKDF turns the cookie, with `SECRET_KEY` as its salt
and the purpose as its info, into two things: the entry's name in the store, and the AES-GCM key
its JSON value is encrypted under (the name is the associated data, so an entry moved to another
name does not open). The name is one-way: it gives neither the cookie nor the key. So a copy of
the store holds no session id and nothing readable, and without the cookie an entry can be
neither found, read nor forged.

This is oauth2-proxy's session ticket (cookie = id + per-session secret, store = ciphertext)
with the id and the secret folded into one random value: the session id Flask-Session already
puts in the cookie.

Key rotation: `SECRET_KEY_FALLBACKS` are older keys. Each key is a *generation* (0 is
`SECRET_KEY`, then the fallbacks in order): an entry sealed under an older one is found under
the name that key gives, opens with that key's cipher, and the store seals it again under
generation 0 when it is read (`SealedStore`).
"""

import base64
import binascii
import functools
import json
import logging
import os
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"\x01"
NONCE_BYTES = 12

log = logging.getLogger(__name__)


class Sealer:
    """Derives entry names and keys from cookies, and seals and opens values."""

    def __init__(self, secret_key: str, fallbacks: Sequence[str] = ()) -> None:
        self._salts = tuple(key.encode() for key in (secret_key, *fallbacks))
        # Each request locates the same few entries again (its session, its tokens).
        self.locate = functools.lru_cache(maxsize=1024)(self._locate)

    @property
    def generations(self) -> range:
        """0 (`SECRET_KEY`), then one per fallback key, oldest last."""
        return range(len(self._salts))

    def _locate(self, purpose: str, cookie: str, generation: int = 0) -> tuple[str, AESGCM]:
        """The entry's name in the store and the cipher of its key, under a key generation."""
        material = HKDF(
            algorithm=hashes.SHA256(),
            length=64,
            salt=self._salts[generation],
            info=purpose.encode(),
        ).derive(cookie.encode())
        return material[:32].hex(), AESGCM(material[32:])

    def seal_text(self, purpose: str, label: str, value: Any) -> str:
        """`value` sealed under `SECRET_KEY` for a cookie: URL-safe text, bound to `label` (the
        cookie's name), that only this app can read or make."""
        name, cipher = self.locate(purpose, label)
        return base64.urlsafe_b64encode(self.seal(name, cipher, value)).decode().rstrip("=")

    def open_text(self, purpose: str, label: str, text: str) -> tuple[Any, int] | None:
        """What `seal_text` sealed, and the key generation that opened it; None (with one log
        line) if no key opens it."""
        try:
            sealed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            sealed = b""
        return self.open_kept(purpose, label, sealed)

    def open_kept(self, purpose: str, cookie: str, sealed: bytes) -> tuple[Any, int] | None:
        """A value sealed for `cookie` and kept outside the store (in a cookie), and the key
        generation that opened it: each key is tried, as the store looks for an entry under
        each. None (with one log line) if no key opens it."""
        for generation in self.generations:
            name, cipher = self.locate(purpose, cookie, generation)
            value = self._decrypt(name, cipher, sealed)
            if value is not None:
                return value, generation
        log.warning("A sealed cookie did not open (damaged, forged, or of another SECRET_KEY)")
        return None

    def secret(self, purpose: str, cookie: str, generation: int = 0) -> str:
        """A secret only this app can derive from `cookie` (64 hex digits), such as a
        sign-in's PKCE verifier, which is then never stored or sent anywhere but to ilert."""
        return self.locate(purpose, cookie, generation)[0]

    @staticmethod
    def seal(name: str, cipher: AESGCM, value: Any) -> bytes:
        """`value` as JSON, encrypted and authenticated by `cipher`, bound to `name`."""
        nonce = os.urandom(NONCE_BYTES)
        plain = json.dumps(value, separators=(",", ":")).encode()
        return VERSION + nonce + cipher.encrypt(nonce, plain, name.encode())

    @classmethod
    def open(cls, name: str, cipher: AESGCM, sealed: bytes) -> Any | None:
        """The value sealed by `seal`, or None (with one log line) if it does not open."""
        value = cls._decrypt(name, cipher, sealed)
        if value is None:
            log.warning(
                "A stored entry did not open (damaged, planted, or sealed under another "
                "SECRET_KEY): treated as missing"
            )
        return value

    @staticmethod
    def _decrypt(name: str, cipher: AESGCM, sealed: bytes) -> Any | None:
        nonce = sealed[1 : 1 + NONCE_BYTES]
        try:
            if sealed[:1] != VERSION or len(nonce) != NONCE_BYTES:
                raise ValueError("not a sealed entry")
            plain = cipher.decrypt(nonce, sealed[1 + NONCE_BYTES :], name.encode())
            return json.loads(plain.decode())  # UTF-8, as sealed: bytes would be sniffed first
        except (InvalidTag, ValueError):
            return None
