"""Service URLs as reasons and logs may show them: the password masked, the host and port named.

A leaf: probes, the database-URL module and every reason that names a URL use
these two, so a URL is spelled the same way wherever an auditor reads it.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***``, safe for reasons, targets and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostinfo}"))


def host_port(url: str, default_port: int) -> str:
    """``host:port`` of a URL, for reasons that must name where a service was looked for."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port or default_port}"
