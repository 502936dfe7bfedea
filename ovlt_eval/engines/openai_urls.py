"""The `openai` engine's base URLs: parsed from flags and cards, checked (no query string, no
key in them), and shown without credentials in every message."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from ovlt_eval.errors import UserError
from ovlt_eval.redact import redact_url

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"


def as_url_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [u.strip() for u in value.split(",") if u.strip()]
    return [u for v in value for u in as_url_list(v)]


def safe_url(url: str) -> str:
    """The URL without user:password or query string (either may carry a secret)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def check_base_url(url: str) -> None:
    """A base URL is scheme://host[:port]/path: a query string or fragment would be glued into
    every request path (the preflight asked `/v1?api_key=.../models`), and a key in it would be
    sent to logs and proxies. The key belongs in the environment."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        raise UserError(f"--base-url {redact_url(url)!r} is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(
            f"--base-url {redact_url(url)!r} is not an http:// or https:// URL with a host "
            "(e.g. http://HOST:PORT/v1)"
        )
    if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
        raise UserError(
            f"--base-url {redact_url(url)} has a query string or fragment: give the bare "
            "endpoint (e.g. http://HOST:PORT/v1) and the API key in the environment "
            f"({DEFAULT_API_KEY_ENV}, or the variable named by --api-key-env)"
        )


def redirect_message(url: str, resp) -> str:
    where = resp.headers.get("location") or "no Location"
    return (
        f"HTTP {resp.status} from {safe_url(url)}: redirected to {redact_url(where)[:200]}; "
        "ovlt does not follow redirects (the request would go to another address): give the "
        "final address as --base-url"
    )
