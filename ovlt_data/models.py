"""Model calls through the cache: an engine is only started when a call is missing."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

from ovlt_data.cache import CallCache, call_keys
from ovlt_data.card import ModelSpec


@dataclass(frozen=True)
class CallResult:
    outputs: tuple[str, ...] | None  # k texts, or None when the engine failed for this item
    error: str | None = None
    cached: bool = False


IN_PROCESS_ENGINES = ("vllm", "hf")  # engines that hold the weights in this process


def engine_key(spec: ModelSpec) -> str:
    """What `get_engine` is opened with: roles with equal keys are served by one engine.
    (Not `revision`: it names the weights for the cache key; it does not load other ones.)"""
    return json.dumps([spec.engine, spec.model, spec.engine_options()], sort_keys=True, default=str)


class EnginePool:
    """One engine per distinct model. From round 2 the reasoner and the policy are both the
    previous round's GRPO checkpoint: opened per role, that was two in-process vLLMs of one
    model, each held to half the GPU (`gpu_memory_utilization` 0.45)."""

    def __init__(self):
        self._engines: dict[str, Any] = {}
        self.opened = 0  # engines actually started, for the manifest and the tests

    def get(self, spec: ModelSpec):
        key = engine_key(spec)
        if key not in self._engines:
            from ovlt_eval.engines import get_engine

            if spec.engine != "openai":  # a missing folder / offline Hub id: one line, now
                from ovlt_eval.hub_access import check_model_ref

                check_model_ref(spec.model, what="model")

            self._engines[key] = get_engine(spec.engine, model=spec.model, **spec.engine_options())
            self.opened += 1
        return self._engines[key]


def open_models(specs: dict[str, ModelSpec], cache: CallCache) -> dict[str, CachedModel]:
    """The card's roles over one shared `EnginePool`. Two roles loading the same checkpoint
    in-process with different options would load it twice: refused, naming the roles."""
    from ovlt_eval.errors import UserError

    seen: dict[tuple[str, str], str] = {}
    for role, spec in specs.items():
        if spec.engine not in IN_PROCESS_ENGINES:
            continue  # an HTTP client per server is cheap; other base_urls are other servers
        other = seen.setdefault((spec.engine, spec.model), role)
        if other != role and engine_key(specs[other]) != engine_key(spec):
            raise UserError(
                f"models.{other} and models.{role} load {spec.model} in-process with different "
                f"options: give them the same options so they share one {spec.engine} engine"
            )
    pool = EnginePool()
    models = {role: CachedModel(role, spec, cache, pool) for role, spec in specs.items()}
    for m in models.values():
        m.shared_with = tuple(
            r for r, s in specs.items() if r != m.role and engine_key(s) == engine_key(m.spec)
        )
    return models


class CachedModel:
    def __init__(
        self, role: str, spec: ModelSpec, cache: CallCache, engines: EnginePool | None = None
    ):
        self.role = role
        self.spec = spec
        self.cache = cache
        self.engines = engines if engines is not None else EnginePool()
        self.shared_with: tuple[str, ...] = ()  # other roles served by the same engine
        self._engine = None
        self._skey: dict[str, Any] | None = None
        self.calls = 0  # requests actually sent to the engine

    @cached_property
    def sampling(self):
        """The card's sampling block as engine parameters; built once, sent with every request."""
        from ovlt_eval.engines.types import SamplingParams

        return SamplingParams.from_fields(self.spec.sampling)

    def _sampling_key(self) -> dict[str, Any]:
        if self._skey is None:
            d = asdict(self.sampling)
            d["stop"] = list(d["stop"])
            self._skey = d
        return self._skey

    def engine(self):
        if self._engine is None:
            self._engine = self.engines.get(self.spec)
        return self._engine

    def keys(self, messages, k: int) -> list[str]:
        return call_keys(self.spec.model, self.spec.revision, messages, self._sampling_key(), k)

    def run(self, items: list[tuple[str, list[dict], int]]) -> dict[str, CallResult]:
        """items: (id, messages, k). Cached items cost nothing; the rest go to the engine at once."""
        from ovlt_eval.engines.types import GenerationRequest

        keys = {rid: self.keys(msgs, k) for rid, msgs, k in items}
        found = self.cache.get_many([key for ks in keys.values() for key in ks])
        out: dict[str, CallResult] = {}
        hits = [rid for rid, _, _ in items if all(key in found for key in keys[rid])]
        # stored values are JSON strings: decode every hit of the batch in one C call
        texts = iter(
            json.loads("[" + ",".join(found[key] for rid in hits for key in keys[rid]) + "]")
        )
        for rid in hits:
            out[rid] = CallResult(tuple(next(texts) for _ in keys[rid]), cached=True)
        self.cache.hits += len(hits)
        todo = [
            GenerationRequest(
                id=rid, messages=tuple(_engine_messages(msgs)), n=k, sampling=self.sampling
            )
            for rid, msgs, k in items
            if rid not in out
        ]
        if not todo:
            return out
        self.cache.misses += len(todo)
        self.calls += len(todo)
        new_rows = []
        for res in self.engine().generate(todo):
            if res.status == "ok" and len(res.outputs) == len(keys[res.id]):
                out[res.id] = CallResult(tuple(res.outputs))
                new_rows += [
                    (key, self.spec.model, json.dumps(o))
                    for key, o in zip(keys[res.id], res.outputs, strict=True)
                ]
            else:
                err = (
                    res.error
                    or f"engine returned {len(res.outputs)} of {len(keys[res.id])} samples"
                )
                out[res.id] = CallResult(None, error=err[:300])
        self.cache.put_many(new_rows)  # one commit per batch
        for req in todo:
            out.setdefault(req.id, CallResult(None, error="engine returned no result"))
        return out

    def describe(self) -> dict[str, Any]:
        out = {
            "engine": self.spec.engine,
            "model": self.spec.model,
            "revision": self.spec.revision,
            "sampling": self._sampling_key(),
        }
        if self.shared_with:
            out["engine_shared_with"] = list(self.shared_with)
        if self._engine is not None:  # what the engine itself reports (served revision, notes)
            try:
                out["engine_reported"] = self._engine.describe()
            except Exception as e:  # provenance must not fail a finished build
                out["engine_reported"] = {"error": str(e)[:200]}
        return out


def _engine_messages(messages: list[dict]) -> list[dict]:
    """Our images travel as `schema.Image`; engines take bytes."""
    out = []
    for m in messages:
        content = m["content"]
        if isinstance(content, list):
            content = [
                {"type": "image", "image": p["image"].data}
                if p.get("type") == "image" and hasattr(p.get("image"), "data")
                else p
                for p in content
            ]
        out.append({**m, "content": content})
    return out
