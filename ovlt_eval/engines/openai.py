"""The `openai` engine: any OpenAI-compatible chat endpoint (vLLM, SGLang, `transformers serve`, hosted).

Requests run on an asyncio loop in a background thread with bounded concurrency; each HTTP call
is retried with exponential back-off and jitter on 429, 5xx, 408, dropped connections and
timeouts. A request that still fails yields `GenerationResult(status="error")`; `generate` never
raises for one request. Several base URLs share the load (least in-flight first), which also
moves a retry to another replica.

Sampling: `temperature`, `top_p`, `max_tokens`, `seed`, `n` and `stop` are standard fields;
`top_k` and `repetition_penalty` go in the body as extras (vLLM and SGLang honour them). A server
that rejects the extras (400/422 naming them) gets the request again without them, and
`describe()` says so, because the number then comes from other sampling than asked. A server
that ignores `n` (returns fewer choices) gets the missing samples as single calls with seeds
`seed + i`; also recorded in `describe()`.

The wire format is spoken directly over `aiohttp` (see `transport.py`), without the `openai`
SDK, whose per-request validation cost about 2 ms of CPU.

Images: the server's processor decides the pixel limits (a served checkpoint uses its own
processor, which for an `ovlt-train` checkpoint carries the training budget; serve it with the
base limits, e.g. `vllm serve CKPT --mm-processor-kwargs '{"size": {"shortest_edge": 3136,
"longest_edge": 12845056}}'`, the form transformers 5 reads; on vLLM's CPU build add
`--no-enable-chunked-prefill`, see `vllm.py`). `min_pixels` / `max_pixels` resize each image
into those limits here, before sending; the server's processor still applies its own on top.
`describe()` says which. Each result's `prompt_tokens` is the server's `usage.prompt_tokens`
(None when it reports none): what its processor made of the prompt, image tokens included.

Time: every HTTP attempt has a request timeout (`request_timeout`; default sized to the request's
`max_tokens`, see `default_request_timeout`), and one request's attempts and back-off together
have a budget (`retry_budget`, default 3 x the request timeout): a server that accepts a
connection and never answers costs each item a bounded time, then an `error` result that a
resume retries. A reply of the wrong shape (no choices, a choice that is no object, content that
is no text, HTML or other non-JSON with status 200) is retried once, then also an `error` result
that names what was wrong; the other requests go on. So is a reply body over
`transport.MAX_REPLY_BYTES` (64 MiB; reading stops there). Redirects are not followed (a 3xx
would send the prompt and its images elsewhere): the item is an error naming the new address.

The API key is read from the environment (`OPENAI_API_KEY`, or the variable named by
`api_key_env`) and is never logged, written or put in `describe()`.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import random
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from ovlt_eval.engines.images import ImageError
from ovlt_eval.engines.openai_replies import (
    BadReply,
    Reply,
    parse_completion,
    retry_after_seconds,
    short_text,
    status_detail,
)
from ovlt_eval.engines.openai_urls import (
    DEFAULT_API_KEY_ENV,
    as_url_list,
    check_base_url,
    redirect_message,
    safe_url,
)
from ovlt_eval.engines.pixels import data_url_within, resolve_pixel_limits
from ovlt_eval.engines.transport import ReplyTooLarge, Transport, TransportError
from ovlt_eval.engines.types import GenerationRequest, GenerationResult, SamplingParams
from ovlt_eval.errors import UserError
from ovlt_eval.thread_queue import drain

_RETRYABLE_STATUS = {408, 409, 425, 429}
_EXTRA_FIELDS = ("top_k", "repetition_penalty")
# A reply of the wrong shape is mostly a server or proxy that will say the same again: one more
# try covers a passing proxy error page; after that the item is an error a resume retries.
_MALFORMED_RETRIES = 1
RETRY_BUDGET_FACTOR = 3.0  # default retry budget: this many request timeouts per request
_PREFLIGHT_TIMEOUT = 10.0


def default_request_timeout(max_tokens: int) -> float:
    """Seconds one HTTP attempt may take when the user sets no `request_timeout`.

    60 s for queueing and prefill (a busy server, several large images), then 0.1 s per token
    allowed: 10 tokens/s, below what a loaded vLLM/SGLang server or a hosted API decodes one
    sequence at, so a healthy but slow answer is not cut off; a wedged server is found after
    minutes, not the 600 s x 7 attempts (70 min) per item of a fixed 600 s timeout.
    """
    return 60.0 + 0.1 * max(1, int(max_tokens))


class _Failed(Exception):
    """A call that failed for good (after retries, or not retryable)."""


class OpenAIEngine:
    name = "openai"

    def __init__(
        self,
        model: str,
        base_urls: str | Sequence[str] | None = None,
        *,
        base_url: str | None = None,
        api_key_env: str | None = None,
        concurrency: int = 64,
        max_retries: int = 6,
        request_timeout: float | None = None,
        retry_budget: float | None = None,
        timeout: float | None = None,  # the old name of request_timeout
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        use_n: bool | None = None,
        send_extra_sampling: bool = True,
        preflight: bool = True,
        check_model: bool = True,
    ) -> None:
        urls = as_url_list(base_urls) + as_url_list(base_url)
        if not urls and os.environ.get("OPENAI_BASE_URL"):
            urls = [os.environ["OPENAI_BASE_URL"]]
        if not urls:
            raise UserError("engine 'openai' needs a server: pass --base-url http://HOST:PORT/v1")
        if not model:
            raise UserError("engine 'openai' needs --model (the model name the server serves)")
        if concurrency < 1:
            raise UserError(f"concurrency must be >= 1, got {concurrency}")
        for url in urls:
            check_base_url(url)
        request_timeout = request_timeout if request_timeout is not None else timeout
        for name, value in (("request timeout", request_timeout), ("retry budget", retry_budget)):
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise UserError(f"the {name} must be a positive number of seconds, got {value!r}")
        self.model = model
        self.base_urls = [u.rstrip("/") for u in urls]
        self.api_key_env = api_key_env or DEFAULT_API_KEY_ENV
        key = os.environ.get(self.api_key_env)
        if api_key_env and not key:
            raise UserError(f"the environment variable {api_key_env} (the API key) is not set")
        if key and any(urlsplit(u).username or urlsplit(u).password for u in urls):
            # aiohttp refuses both (an `Authorization` header and URL credentials) on every
            # request; one line now instead of every item failing the same way.
            raise UserError(
                f"credentials in --base-url and the API key in {self.api_key_env} are both "
                "set; give one: unset the variable, or drop user:password@ from the URL"
            )
        self.__api_key = key  # name-mangled, never in describe() or repr
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.request_timeout = float(request_timeout) if request_timeout is not None else None
        self.retry_budget = float(retry_budget) if retry_budget is not None else None
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        # Only the user's limits are applied here; without them the server's processor decides.
        self.pixel_limits = (
            resolve_pixel_limits(min_pixels, max_pixels)
            if min_pixels is not None or max_pixels is not None
            else None
        )
        self.use_n = use_n
        self.send_extra_sampling = send_extra_sampling
        self.check_model = check_model
        self._served: dict[str, dict[str, Any]] = {}
        self._extras_rejected: set[str] = set()
        self._n_ignored = False
        # A server that stopped answering: after this many attempts in a row ended without any
        # reply (timeouts, refused or dropped connections), the requests not yet sent fail at
        # once instead of each waiting out its own timeout and retry budget (at the default
        # timeout, 1,000 items would otherwise take hours to fail). At least one whole wave of
        # in-flight requests must have failed; any reply resets the count.
        self._dead_after = max(8, concurrency)
        self._no_reply_in_a_row = 0
        self._dead: str | None = None
        self._notes: set[str] = set()
        self._inflight = dict.fromkeys(self.base_urls, 0)
        self._rr = 0
        self.stats = {"http_calls": 0, "retries": 0, "failed_requests": 0}
        if preflight:
            self._preflight()

    def __repr__(self) -> str:
        return (
            f"OpenAIEngine(model={self.model!r}, base_urls={[safe_url(u) for u in self.base_urls]})"
        )

    # ----- public -----

    def describe(self) -> dict[str, Any]:
        notes = set(self._notes)
        if self._extras_rejected:
            notes.add(
                "server rejected top_k/repetition_penalty; requests were sent without them at "
                + ", ".join(safe_url(u) for u in sorted(self._extras_rejected))
            )
        if self._n_ignored:
            notes.add("server ignored n; extra samples were single calls with seeds seed+i")
        served = self._served.get(self.base_urls[0], {})
        return {
            "engine": self.name,
            "model": self.model,
            "model_revision": served.get("revision"),
            "model_root": served.get("root"),
            "dtype": None,  # decided by the server; not visible through the API
            "base_urls": [safe_url(u) for u in self.base_urls],
            "options": {
                "concurrency": self.concurrency,
                "max_retries": self.max_retries,
                "request_timeout_s": self.request_timeout
                if self.request_timeout is not None
                else "60 + 0.1 x max_tokens",
                "retries": {
                    "budget_s": self.retry_budget
                    if self.retry_budget is not None
                    else f"{RETRY_BUDGET_FACTOR:g} x request timeout",
                },
                "pixels": self._describe_pixels(),
                "use_n": self.use_n,
                "send_extra_sampling": self.send_extra_sampling,
                "api_key_env": self.api_key_env,
                "api_key_set": self.__api_key is not None,
            },
            "server_notes": sorted(notes),
            "stats": dict(self.stats),
        }

    def _describe_pixels(self) -> dict[str, Any]:
        if self.pixel_limits is None:
            return {
                "min_pixels": None,
                "max_pixels": None,
                "source": "the server's processor (not visible through the API)",
                "applied_by": "server",
            }
        return {
            **self.pixel_limits.describe(),
            "applied_by": "client resize; the server's processor may resize again",
        }

    def generate(self, requests: Iterable[GenerationRequest]) -> Iterator[GenerationResult]:
        results: queue.Queue = queue.Queue()
        done = object()
        loop = asyncio.new_event_loop()
        main_task: list[asyncio.Task] = []

        def runner() -> None:
            try:
                task = loop.create_task(self._run(requests, results.put))
                main_task.append(task)
                loop.run_until_complete(task)
            except asyncio.CancelledError:
                pass
            except BaseException as err:  # a bug, not a request failure: re-raised below
                results.put(err)
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()
                results.put(done)

        thread = threading.Thread(target=runner, name="ovlt-openai-engine", daemon=True)
        thread.start()
        try:
            yield from drain(results, done)
        finally:
            # The consumer stopped early (or Ctrl-C): cancel what is in flight and wait for it.
            if thread.is_alive() and main_task:
                try:
                    loop.call_soon_threadsafe(main_task[0].cancel)
                except RuntimeError:  # loop already closed
                    pass
            thread.join(timeout=30)

    # ----- async core -----

    async def _run(self, requests: Iterable[GenerationRequest], emit) -> None:
        headers = {"Authorization": f"Bearer {self.__api_key}"} if self.__api_key else {}
        self._transports = {
            # Each attempt passes its own timeout; this one is only the session's fallback.
            url: Transport(
                url,
                headers=headers,
                timeout=self.request_timeout or default_request_timeout(2048),
                connections=self.concurrency,
            )
            for url in self.base_urls
        }
        self._sem = asyncio.Semaphore(self.concurrency)
        self._no_reply_in_a_row, self._dead = 0, None  # each generate() gives the server a chance
        pending: set[asyncio.Task] = set()
        try:
            it = iter(requests)
            exhausted = False
            while True:
                # Pull lazily: at most 2x concurrency requests (and their images) in memory.
                while not exhausted and len(pending) < 2 * self.concurrency:
                    try:
                        req = next(it)
                    except StopIteration:
                        exhausted = True
                        break
                    pending.add(asyncio.create_task(self._one(req)))
                if not pending:
                    break
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    emit(task.result())
        finally:
            for task in pending:  # only left when cancelled: the consumer stopped early
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for transport in self._transports.values():
                await transport.aclose()

    async def _one(self, req: GenerationRequest) -> GenerationResult:
        try:
            if _has_images(req.messages):
                messages = await asyncio.to_thread(self._to_openai_messages, req.messages)
            else:
                messages = self._to_openai_messages(req.messages)
        except ImageError as err:
            self.stats["failed_requests"] += 1
            return GenerationResult(id=req.id, outputs=(), status="error", error=f"image: {err}")
        s = req.sampling
        texts: list[str] = []
        finishes: list[str] = []
        tokens: list[int | None] = []
        prompt_tokens: int | None = None  # the first reply's usage that says it
        try:
            if req.n > 1 and self.use_n is not False and not self._n_ignored:
                reply = await self._call(messages, s, n=req.n, seed=s.seed)
                prompt_tokens = reply.prompt_tokens
                for text, finish in reply.choices[: req.n]:
                    texts.append(text)
                    finishes.append(finish)
                    tokens.append(None)  # usage counts all n together
                if len(reply.choices) < req.n:
                    self._n_ignored = True
            missing = range(len(texts), req.n)
            singles = await asyncio.gather(
                *(
                    self._call(messages, s, n=1, seed=None if s.seed is None else s.seed + i)
                    for i in missing
                )
            )
            for reply in singles:
                if prompt_tokens is None:
                    prompt_tokens = reply.prompt_tokens
                text, finish = reply.choices[0]
                texts.append(text)
                finishes.append(finish)
                tokens.append(reply.completion_tokens)
        except _Failed as err:
            self.stats["failed_requests"] += 1
            return GenerationResult(id=req.id, outputs=(), status="error", error=str(err))
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as err:  # one request's oddity must not end the other requests
            self.stats["failed_requests"] += 1
            error = f"unexpected {type(err).__name__}: {short_text(err)}"
            return GenerationResult(id=req.id, outputs=(), status="error", error=error)
        known_tokens = tuple(t for t in tokens if isinstance(t, int))
        return GenerationResult(
            id=req.id,
            outputs=tuple(texts),
            finish_reasons=tuple(finishes),
            completion_tokens=known_tokens if len(known_tokens) == len(texts) else (),
            prompt_tokens=prompt_tokens,
        )

    async def _call(
        self, messages: list[dict], s: SamplingParams, *, n: int, seed: int | None
    ) -> Reply:
        timeout = self.request_timeout or default_request_timeout(s.max_tokens)
        budget = self.retry_budget or RETRY_BUDGET_FACTOR * timeout
        # Time spent on this request's attempts and back-off; waiting for a free slot behind
        # other requests (the semaphore) is theirs, not this one's, and is not counted.
        spent = 0.0
        attempt = malformed = 0
        while True:
            if self._dead is not None:
                raise _Failed(self._dead)
            url = self._pick_url()
            send_extras = self.send_extra_sampling and url not in self._extras_rejected
            body: dict[str, Any] = {
                "model": self.model,
                "messages": messages,
                "max_tokens": s.max_tokens,
                "temperature": s.temperature,
                "top_p": s.top_p,
            }
            if seed is not None:
                body["seed"] = seed
            if n > 1:
                body["n"] = n
            if s.stop:
                body["stop"] = list(s.stop)
            if send_extras:  # not in the OpenAI schema; vLLM and SGLang read them
                body["top_k"] = s.top_k
                body["repetition_penalty"] = s.repetition_penalty
            retry_after: float | None = None
            self._inflight[url] += 1
            try:
                async with self._sem:
                    started = time.monotonic()
                    try:
                        self.stats["http_calls"] += 1
                        payload = json.dumps(body).encode()
                        resp = await self._transports[url].post(
                            "/chat/completions", payload, timeout=min(timeout, budget - spent)
                        )
                    finally:
                        spent += time.monotonic() - started
                self._no_reply_in_a_row = 0  # the server answers, whatever it said
                status = resp.status
                if 300 <= status < 400:
                    raise _Failed(redirect_message(url, resp))
                if status < 400:
                    return self._parse_reply(resp)
                detail = status_detail(resp)
                if send_extras and status in (400, 422) and _names_extras(detail):
                    self._extras_rejected.add(url)
                    continue  # not the server's fault: resend without the extras, no back-off
                if not (status in _RETRYABLE_STATUS or status >= 500):
                    raise _Failed(f"HTTP {status} from {safe_url(url)}: {detail}")
                last = f"HTTP {status}: {detail}"
                retry_after = retry_after_seconds(resp)
            except (BadReply, ReplyTooLarge) as err:
                malformed += 1
                last = f"malformed reply from {safe_url(url)}: {err}"
                if malformed > _MALFORMED_RETRIES:
                    raise _Failed(last) from None
            except TransportError as err:  # timeouts, refused and dropped connections
                last = str(err)
                self._no_reply_in_a_row += 1
                if self._no_reply_in_a_row >= self._dead_after and self._dead is None:
                    self._dead = (  # the cause first: callers may cut long messages
                        f"the server stopped answering: {last} ({self._no_reply_in_a_row} "
                        "attempts in a row got no reply); the remaining requests were not "
                        "sent: run the same command again once it answers"
                    )
            finally:
                self._inflight[url] -= 1
            attempt += 1
            if attempt > self.max_retries:
                raise _Failed(f"gave up after {attempt} attempts; last: {last}")
            delay = self._backoff(attempt, retry_after)
            if spent + delay >= budget:
                raise _Failed(
                    f"gave up after {attempt} attempts in {spent:.0f} s (retry budget "
                    f"{budget:g} s); last: {last}"
                )
            self.stats["retries"] += 1
            await asyncio.sleep(delay)
            spent += delay

    def _parse_reply(self, resp) -> Reply:
        reply = parse_completion(resp)
        if reply.rejoined:
            self._notes.add(
                "server returned reasoning apart from content; rejoined as <think>reasoning</think>content"
            )
        return reply

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        cap = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        delay = cap / 2 + random.uniform(0, cap / 2)  # "equal jitter": spread, never zero
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max))
        return delay

    def _pick_url(self) -> str:
        # Least in-flight first; ties go round-robin so idle replicas all get work.
        self._rr += 1
        n = len(self.base_urls)
        order = [self.base_urls[(self._rr + i) % n] for i in range(n)]
        return min(order, key=lambda u: self._inflight[u])

    def _to_openai_messages(self, messages: Sequence[dict[str, Any]]) -> list[dict]:
        out = []
        for message in messages:
            content = message.get("content")
            if isinstance(content, list):
                parts = []
                for part in content:
                    kind = part.get("type")
                    if kind == "image":
                        url = data_url_within(part["image"], self.pixel_limits)
                        parts.append({"type": "image_url", "image_url": {"url": url}})
                    elif kind == "text":
                        parts.append({"type": "text", "text": part["text"]})
                    else:
                        parts.append(part)  # already OpenAI-shaped (e.g. image_url)
                content = parts
            out.append({"role": message["role"], "content": content})
        return out

    # ----- preflight -----

    def _preflight(self) -> None:
        # On a loop of its own in a worker thread: the caller may already run an event loop
        # (a notebook), where asyncio.run would refuse.
        with ThreadPoolExecutor(max_workers=1) as worker:
            replies = worker.submit(asyncio.run, self._fetch_models()).result()
        for url, resp in replies:
            self._check_models_reply(url, resp)

    async def _fetch_models(self) -> list[tuple[str, Any]]:
        headers = {"Authorization": f"Bearer {self.__api_key}"} if self.__api_key else {}
        replies = []
        for url in self.base_urls:
            limit = min(_PREFLIGHT_TIMEOUT, self.request_timeout or _PREFLIGHT_TIMEOUT)
            transport = Transport(url, headers=headers, timeout=limit, connections=1)
            try:
                resp = None
                for attempt in range(3):
                    try:
                        resp = await transport.get("/models")
                    except ReplyTooLarge as err:
                        raise UserError(
                            f"{safe_url(url)}/models: {err}; is --base-url an "
                            "OpenAI-compatible endpoint?"
                        ) from None
                    except TransportError as err:
                        if attempt == 2:
                            raise UserError(
                                f"cannot reach the OpenAI-compatible endpoint {safe_url(url)} "
                                f"({short_text(err) or 'no detail'}); is the server running, and is "
                                "--base-url right (it usually ends in /v1)?"
                            ) from None
                    else:
                        if resp.status not in _RETRYABLE_STATUS and resp.status < 500:
                            break
                    await asyncio.sleep(0.2 * (attempt + 1))
            finally:
                await transport.aclose()
            replies.append((url, resp))
        return replies

    def _check_models_reply(self, url: str, resp) -> None:
        status = resp.status
        if status in (401, 403):
            raise UserError(
                f"{safe_url(url)} refused the API key (HTTP {status}); "
                f"set it in the environment variable {self.api_key_env}"
            )
        if status == 404:
            raise UserError(
                f"{safe_url(url)} has no GET /models (HTTP 404): is --base-url right "
                "(it usually ends in /v1)?"
            )
        if status >= 400:
            raise UserError(
                f"{safe_url(url)} answered HTTP {status} to GET /models: {status_detail(resp)}"
            )
        if 300 <= status < 400:
            raise UserError(redirect_message(url, resp))
        try:
            data = resp.json().get("data", [])
        except (ValueError, AttributeError):
            data = None
        if not isinstance(data, list):  # `{"data": null}`, a number, an HTML page
            raise UserError(f"{safe_url(url)}/models did not answer with a model list")
        models = [m for m in data if isinstance(m, dict)]
        ids = [str(m.get("id")) for m in models]
        if self.check_model and ids and self.model not in ids:
            shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
            raise UserError(
                f"model {self.model!r} is not served at {safe_url(url)}; it serves: {shown}"
            )
        for m in models:
            if m.get("id") == self.model:
                self._served[url] = {"root": m.get("root"), "revision": m.get("revision")}


def _has_images(messages: Sequence[dict[str, Any]]) -> bool:
    return any(
        isinstance(m.get("content"), list) and any(p.get("type") == "image" for p in m["content"])
        for m in messages
    )


def _names_extras(detail: str) -> bool:
    return any(field in detail.lower() for field in _EXTRA_FIELDS)
