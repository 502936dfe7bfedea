"""What may be written down: secrets out of every recorded card, URL, message and log.

One helper for every recording site (data manifest and dataset card, eval card and summary,
loop manifest, training records), so a new site cannot forget one of the three rules:

- a card string that took a value from the environment (`${VAR}`) is recorded as its template,
  never as the expanded text (`card_io.expand_env` tells us which strings those are);
- a URL keeps scheme, host, port and path; user:password and every query value become `***`
  (`http://u:KEY@host/v1?api_key=K` -> `http://***@host/v1?api_key=***`);
- values of secret-looking environment variables (OPENAI_API_KEY, HF_TOKEN, ...) and of
  secret-looking keys (`api_key`, `token`, `password`, ...) are replaced by `***`.

Stdlib only: `import ovlt_eval` stays light.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

MASK = "***"
# Key names that hold secrets ("api_key", "hf_token"), not ones that merely mention them
# ("max_tokens", "api_key_env").
SECRET_KEY_RE = re.compile(
    r"(^|[_-])(api[_-]?key|token|secret|password|passwd|authorization)$", re.IGNORECASE
)
SECRET_ENV_RE = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
# A URL inside free text (an error message, a log line, a card description)
# (trailing punctuation is the sentence's, not the URL's).
_URL_RE = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>`]*[^\s\"'<>`.,:;!?)\]}]")

# expanded card string -> its template; filled by card_io.expand_env for strings that took at
# least one value from the environment. Process-wide because the recording sites (a manifest
# written after a build, a checkpoint record after training) are far from the card loader.
_TEMPLATES: dict[str, str] = {}


def remember_template(expanded: str, template: str) -> None:
    if expanded != template:
        _TEMPLATES[expanded] = template


def redact_url(url: str) -> str:
    """A URL without credentials: userinfo and every query value masked, the rest kept."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
    except ValueError:  # not parseable as a URL: mask everything after the scheme's host part
        return url.split("?", 1)[0].rsplit("@", 1)[-1]
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = "&".join(f"{k}={MASK}" for k, _ in pairs) if pairs else MASK
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment and MASK))


def secret_values() -> list[str]:
    """Values of secret-looking environment variables, longest first (a key containing another
    is masked whole)."""
    found = {
        v
        for k, v in os.environ.items()
        if SECRET_ENV_RE.search(k) and len(v) >= 8 and not v.isdigit()
    }
    return sorted(found, key=len, reverse=True)


def redact_text(text: str, secrets: list[str] | None = None) -> str:
    """Free text (a message, a log line, a serialised record) with URLs and secrets masked.
    `secrets`: secret_values(), when the caller redacts many strings at once."""
    if "://" in text:
        text = _URL_RE.sub(lambda m: redact_url(m.group(0)), text)
    for value in secret_values() if secrets is None else secrets:
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact(obj: Any, *, templates: bool = True, _secrets: list[str] | None = None) -> Any:
    """A JSON-like object ready to be written: templates for env-expanded card strings, URLs
    and secret values masked in every string, values of secret-looking keys masked.

    `templates=False` for records read back as data (a step's output path, a resume guard):
    there a string equal to an expanded card value must stay what it is."""
    secrets = secret_values() if _secrets is None else _secrets  # the environment, read once
    if isinstance(obj, str):
        return redact_text(_TEMPLATES.get(obj, obj) if templates else obj, secrets)
    if isinstance(obj, dict):
        return {
            k: (
                MASK
                if SECRET_KEY_RE.search(str(k)) and v is not None
                else redact(v, templates=templates, _secrets=secrets)
            )
            for k, v in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return [redact(v, templates=templates, _secrets=secrets) for v in obj]
    return obj


def scrub(obj: Any) -> Any:
    """Drop secret-looking keys anywhere in a JSON-like object (an engine's description, where
    a masked key would still be a key the resume guard compares)."""
    if isinstance(obj, dict):
        return {k: scrub(v) for k, v in obj.items() if not SECRET_KEY_RE.search(str(k))}
    if isinstance(obj, (list, tuple)):
        return [scrub(v) for v in obj]
    return obj
