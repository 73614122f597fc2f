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
#: Longest password accepted at login (longer ones are refused without hashing them).
MAX_PASSWORD_CHARS = 1024
#: Failed logins of one user name within LOGIN_WINDOW_S before further tries are refused.
LOGIN_MAX_FAILURES = 10
LOGIN_WINDOW_S = 300.0
#: Hashed when the user name is unknown, so that the answer takes as long as for a known name.
_DUMMY_HASH = "scrypt$" + "00" * 16 + "$" + "00" * 32


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
    if scheme != "scrypt" or len(password) > MAX_PASSWORD_CHARS:
        return False
    try:
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    digest = hashlib.scrypt(password.encode("utf-8", "replace"), salt=salt, dklen=32, **_SCRYPT)
    return hmac.compare_digest(digest.hex().encode(), digest_hex.encode("utf-8", "replace"))


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
    _failures: dict[str, list[float]] = field(default_factory=dict, repr=False)

    @property
    def enabled(self) -> bool:
        return bool(self.token) or bool(self.users)

    def locked(self, username: str) -> bool:
        """True while ``username`` has had too many failed logins recently (brute-force brake)."""
        now = time.monotonic()
        recent = [t for t in self._failures.get(username, []) if now - t < LOGIN_WINDOW_S]
        if recent:
            self._failures[username] = recent
        else:
            self._failures.pop(username, None)
        return len(recent) >= LOGIN_MAX_FAILURES

    def login(self, username: str, password: str) -> str | None:
        """A new session id for valid credentials, else None. Never logs the password."""
        stored = self.users.get(username)
        ok = verify_password(password, stored or _DUMMY_HASH) and stored is not None
        if not ok:
            if stored is not None:
                self._failures.setdefault(username, []).append(time.monotonic())
            return None
        self._failures.pop(username, None)
        now = time.monotonic()
        for old in [k for k, (_, expiry) in self._sessions.items() if expiry <= now]:
            del self._sessions[old]
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = (username, now + self.session_ttl_s)
        return sid

    def logout(self, cookie: str | None) -> None:
        if cookie:
            self._sessions.pop(cookie, None)

    def identify(self, bearer: str | None, cookie: str | None) -> str | None:
        """The user name for valid credentials, else None (comparison in constant time)."""
        # bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500)
        if (
            bearer
            and self.token
            and hmac.compare_digest(bearer.encode("utf-8", "replace"), self.token.encode("utf-8", "replace"))
        ):
            return "token"
        if cookie:
            entry = self._sessions.get(cookie)
            if entry and entry[1] > time.monotonic():
                return entry[0]
        return None
