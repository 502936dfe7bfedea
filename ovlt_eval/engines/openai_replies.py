"""What an OpenAI-compatible server answered: a 2xx body read as a chat completion (every field
checked for its type; `BadReply` names the first that is wrong), and an error reply's own words
and Retry-After."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class BadReply(ValueError):
    """A 2xx reply whose body is not a chat completion (the reason is the message)."""


@dataclass(frozen=True)
class Reply:
    choices: list[tuple[str, str]]  # (text, finish_reason) per choice, at least one
    completion_tokens: int | None
    rejoined: bool  # reasoning came apart from content and was put back
    prompt_tokens: int | None = None  # usage.prompt_tokens, when the server reports it


def parse_completion(resp) -> Reply:
    """A 2xx response as a chat completion; `BadReply` naming the first thing that is not.

    Every field is checked for its type: a proxy's HTML page, `{"choices": ["abc"]}` or a
    numeric `content` must end as one item's error, not an exception that ends the run, and a
    choice without text must not pass as an empty answer scored "no answer"."""
    try:
        reply = resp.json()
    except UnicodeDecodeError as err:  # a JSON body must be UTF-8 (RFC 8259 §8.1)
        raise BadReply(f"body is not valid UTF-8 (byte {err.start}: {err.reason})") from None
    except ValueError:  # JSONDecodeError
        kind = resp.headers.get("content-type", "no content type").split(";")[0]
        raise BadReply(f"body is not JSON ({kind}: {short_text(resp.text, 60)!r})") from None
    if not isinstance(reply, dict):
        raise BadReply(f"the body is a JSON {_kind(reply)}, not an object")
    choices = reply.get("choices")
    if not isinstance(choices, list) or not choices:
        raise BadReply("no choices" if not choices else f"choices is a {_kind(choices)}")
    parsed, rejoined = [], False
    for i, choice in enumerate(choices):
        if not isinstance(choice, dict):
            raise BadReply(f"choices[{i}] is a {_kind(choice)}, not an object")
        message = choice.get("message")
        if not isinstance(message, dict):
            raise BadReply(f"choices[{i}] has no message object")
        text, joined = _message_text(message, f"choices[{i}].message")
        rejoined |= joined
        finish = choice.get("finish_reason")
        parsed.append((text, finish if isinstance(finish, str) else ""))
    usage = reply.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    return Reply(
        parsed, _count(usage.get("completion_tokens")), rejoined, _count(usage.get("prompt_tokens"))
    )


def _count(value: Any) -> int | None:
    """A token count from `usage`, or None for anything that is not a whole number >= 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _message_text(message: dict, where: str) -> tuple[str, bool]:
    content = message.get("content")
    if isinstance(content, list):  # content parts, as some servers answer
        texts = [p.get("text") for p in content if isinstance(p, dict)]
        if len(texts) != len(content) or not all(isinstance(t, str) for t in texts):
            raise BadReply(f"{where}.content is a list of other than text parts")
        content = "".join(texts)
    # Servers with a reasoning parser move the thinking out of `content`; put it back so the
    # text is what the model wrote (length statistics, <think> checks, answer-tag extraction).
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if reasoning is not None and not isinstance(reasoning, str):
        raise BadReply(f"{where}.reasoning_content is a {_kind(reasoning)}, not text")
    if content is None and not reasoning:
        raise BadReply(f"{where}.content is null (no text)")
    if content is not None and not isinstance(content, str):
        raise BadReply(f"{where}.content is a {_kind(content)}, not text")
    content = content or ""
    if reasoning:
        return f"<think>{reasoning}</think>{content}", True
    return content, False


def _kind(value: Any) -> str:
    return {
        dict: "object",
        list: "list",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
    }.get(type(value), "null" if value is None else type(value).__name__)


def status_detail(resp, limit: int = 300) -> str:
    """The server's own words for an HTTP error (the start of its body)."""
    try:
        text = resp.text
    except Exception:  # undecodable body
        text = ""
    text = " ".join(text.split()) or f"HTTP {resp.status}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def retry_after_seconds(resp) -> float | None:
    value = resp.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def short_text(err: BaseException, limit: int = 300) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
