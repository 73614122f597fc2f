"""Authentication for the workstation: a bearer token or user accounts with scrypt-hashed passwords.

Bound to 127.0.0.1 the server may run without authentication (a single-user workstation). Bound to
any other address it refuses to start unless authentication is configured, and then every request
must carry a valid token (``Authorization: Bearer ...`` or the session cookie set by /login).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from dataclasses import dataclass, field

from sonomsk.core.errors import InvalidParameterError

COOKIE = "sonomsk_session"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$<salt hex>$<hash hex>``."""
    if len(password) < 8:
        raise InvalidParameterError("password: expected at least 8 characters")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), dklen=32, **_SCRYPT)
    return hmac.compare_digest(digest.hex(), digest_hex)


def is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class AuthConfig:
    """``token``: a shared API token; ``users``: username -> scrypt hash. Either enables auth."""

    token: str | None = None
    users: dict[str, str] = field(default_factory=dict)
    session_ttl_s: float = 12 * 3600
    _sessions: dict[str, tuple[str, float]] = field(default_factory=dict, repr=False)

    @property
    def enabled(self) -> bool:
        return bool(self.token) or bool(self.users)

    def login(self, username: str, password: str) -> str | None:
        stored = self.users.get(username)
        if stored is None or not verify_password(password, stored):
            return None
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = (username, time.monotonic() + self.session_ttl_s)
        return sid

    def identify(self, bearer: str | None, cookie: str | None) -> str | None:
        """The user name for valid credentials, else None."""
        if bearer and self.token and hmac.compare_digest(bearer, self.token):
            return "token"
        if cookie:
            entry = self._sessions.get(cookie)
            if entry and entry[1] > time.monotonic():
                return entry[0]
        return None
