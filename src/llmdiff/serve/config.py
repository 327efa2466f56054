"""What the operator sets when starting the server."""

from __future__ import annotations

import ipaddress
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from llmdiff.errors import UserError
from llmdiff.serve.limits import MAX_GUIDANCE, Limits

TOKEN_ENV = "LLMDIFF_SERVE_TOKEN"
"""Environment variable holding the access token (keeps it out of `ps` output and shell history)."""

MIN_TOKEN_CHARS = 16


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    """address to bind; anything but loopback requires `auth_token`"""
    port: int = 7860
    output_dir: Path = Path("outputs/serve")
    """every generated PNG goes here, under a name the server chooses"""
    auth_token: str | None = None
    """required on every request (page and API) when set"""
    max_waiting: int = 8
    """requests that may wait for the model; more get 429"""
    request_timeout_s: float = 300.0
    """longest a request may wait and run together before it is cancelled with 503"""
    default_steps: int = 30
    """steps when a request names none (and the page's starting value)"""
    default_guidance: float = 7.5
    """guidance when a request names none (and the page's starting value)"""
    limits: Limits = field(default_factory=Limits)
    allowed_hosts: tuple[str, ...] = ()
    """Host header names the server answers to; empty: the loopback names on a loopback address, the
    bound address itself on another, any name on a wildcard address (0.0.0.0, ::), where the token guards"""
    read_timeout_s: float = 10.0
    """longest a connection may take to send a whole request (headers and body), and to stay idle"""
    max_client_connections: int = 32
    """open connections from one client address; more are answered 503 and closed at once"""
    max_connections: int = 256
    """open connections in all (uvicorn's own limit)"""

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        if not 0 <= self.port < 65536:
            raise UserError(f"port must be between 0 and 65535, not {self.port}")
        if self.max_waiting < 0:
            raise UserError(f"max waiting requests must be ≥ 0, not {self.max_waiting}")
        if not 1 <= self.default_steps <= self.limits.max_steps:
            raise UserError(f"default steps must be between 1 and {self.limits.max_steps}, not {self.default_steps}")
        if not (math.isfinite(self.default_guidance) and 0 <= self.default_guidance <= MAX_GUIDANCE):
            raise UserError(f"default guidance must be between 0 and {MAX_GUIDANCE}, not {self.default_guidance}")
        if not self.request_timeout_s > 0:
            raise UserError(f"request timeout must be positive, not {self.request_timeout_s}")
        if not (math.isfinite(self.read_timeout_s) and self.read_timeout_s > 0):
            raise UserError(f"read timeout must be positive, not {self.read_timeout_s}")
        if not 1 <= self.max_client_connections <= self.max_connections:
            raise UserError(f"connections per client must be between 1 and {self.max_connections}, not "
                            f"{self.max_client_connections}")
        self.allowed_hosts = tuple(host.strip().lower().rstrip(".") for host in self.allowed_hosts if host.strip())
        if self.auth_token is not None and len(self.auth_token) < MIN_TOKEN_CHARS:
            raise UserError(f"the access token must have at least {MIN_TOKEN_CHARS} characters")
        if self.auth_token is not None and not re.fullmatch(r"[A-Za-z0-9._~+/=-]+", self.auth_token):
            # It travels in a header, a cookie and a query string: keep it to characters safe in all three.
            raise UserError("the access token may only hold letters, digits and . _ ~ + / = -")
        if self.auth_token is None and not is_loopback(self.host):
            raise UserError(
                f"binding to {self.host} exposes the server beyond this machine: set an access token with "
                f"--auth-token or the {TOKEN_ENV} environment variable (e.g. `export {TOKEN_ENV}=$(openssl "
                "rand -hex 16)`)"
            )

    def host_names(self) -> frozenset[str] | None:
        """The Host header names to answer to (without port); None: any."""
        if self.allowed_hosts:
            return frozenset(self.allowed_hosts)
        if self.host in ("0.0.0.0", "::", ""):
            return None
        names = {self.host.lower()}
        if is_loopback(self.host):
            names |= {"localhost", "127.0.0.1", "::1"}
        return frozenset(names)

    @staticmethod
    def token_from_env() -> str | None:
        return os.environ.get(TOKEN_ENV) or None
