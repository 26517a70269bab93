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
"""

import functools
import json
import logging
import os
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

    def __init__(self, secret_key: str) -> None:
        self._salt = secret_key.encode()
        # Each request locates the same few entries again (its session, its tokens).
        self.locate = functools.lru_cache(maxsize=1024)(self._locate)

    def _locate(self, purpose: str, cookie: str) -> tuple[str, AESGCM]:
        """The entry's name in the store and the cipher of its key."""
        material = HKDF(
            algorithm=hashes.SHA256(), length=64, salt=self._salt, info=purpose.encode()
        ).derive(cookie.encode())
        return material[:32].hex(), AESGCM(material[32:])

    @staticmethod
    def seal(name: str, cipher: AESGCM, value: Any) -> bytes:
        """`value` as JSON, encrypted and authenticated by `cipher`, bound to `name`."""
        nonce = os.urandom(NONCE_BYTES)
        plain = json.dumps(value, separators=(",", ":")).encode()
        return VERSION + nonce + cipher.encrypt(nonce, plain, name.encode())

    @staticmethod
    def open(name: str, cipher: AESGCM, sealed: bytes) -> Any | None:
        """The value sealed by `seal`, or None (with one log line) if it does not open."""
        nonce = sealed[1 : 1 + NONCE_BYTES]
        try:
            if sealed[:1] != VERSION or len(nonce) != NONCE_BYTES:
                raise ValueError("not a sealed entry")
            plain = cipher.decrypt(nonce, sealed[1 + NONCE_BYTES :], name.encode())
            return json.loads(plain.decode())  # UTF-8, as sealed: bytes would be sniffed first
        except (InvalidTag, ValueError):
            log.warning(
                "A stored entry did not open (damaged, planted, or sealed under another "
                "SECRET_KEY): treated as missing"
            )
            return None
