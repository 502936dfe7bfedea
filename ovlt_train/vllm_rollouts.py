"""GRPO rollouts on colocated vLLM that are generated from the prompt the trainer trains on.

trl 1.16's colocate mode (`trl/generation/vllm_generation.py`, class `VLLMGeneration`) falls
short for Qwen2.5-VL in five ways; `align_rollouts(trainer)` wraps the trainer's
`vllm_generation` once, after `GRPOTrainer.__init__`, and fixes each:

1. The rollout prompt is not the trained prompt. trl sends the trainer's prompt token ids, whose
   image tokens the processor has already expanded, together with the images
   (`vllm_generation.py:710-713`, `row = {"prompt_token_ids": ids, "multi_modal_data": ...}`),
   and vLLM 0.32 expands the first image token again (a 56x56 image: 4 image tokens in the
   trainer, 7 in vLLM). The trainer then scores the completions under its own prompt
   (`grpo_trainer.py:1775` drops vLLM's prompt ids), so every rollout is off-policy by
   construction. Known upstream: huggingface/trl#6294. We send each run of image tokens as one
   token, let vLLM expand it with the same processor settings, and check that vLLM's expanded
   ids equal the trainer's, failing the step if they ever differ.
2. No pixel limits reach vLLM: `LLM(...)` is built without `mm_processor_kwargs`
   (`vllm_generation.py:347-364`), so vLLM resizes images with the checkpoint's defaults while
   the trainer uses the card's. Each request carries the trainer processor's own `size`.
3. `sync_weights` resets vLLM's prefix cache but not its encoder cache (`:514-517`): a step that
   meets an image again can reuse embeddings from the vision tower before the update (the hard
   stage trains it), or fail with "Encoder cache miss". We reset it after every sync.
4. The image token is blocked only in transformers generation (`grpo_trainer.py:1168-1170`,
   `suppress_tokens`); under vLLM a sampled image token later fails the forward pass ("tokens:
   33, features: 32"). Rollouts get a -inf logit bias on the image and video tokens.
5. On vLLM's CPU backend, `model.load_weights([(name, param)])` (`:511`) fails after the
   first load ("'Parameter' object has no attribute 'weight_loader'"): the CPU backend repacks
   Linear weights once loaded. There we sync with `model_runner.reload_weights(weights_iterator=...)`,
   vLLM's in-place reload, which re-runs the loader's post-processing (0.02-0.45 s on the tiny
   model). On CUDA trl's own path is kept.
6. trl builds `LLM(...)` without a dtype (`vllm_generation.py:347-364`), and vLLM's "auto" casts
   a float32 checkpoint down to bf16 (`vllm/config/model.py` `_resolve_auto_dtype`): a float32
   run (bf16: false) would train on rollouts of a bf16 copy. `rollout_dtype` gives vLLM the
   trainer's compute dtype while trl builds the engine.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence
from typing import Any

from ovlt_eval.errors import UserError


def collapse_image_runs(ids: Sequence[int], image_token_id: int) -> list[int]:
    """Each run of consecutive image tokens becomes one image token (vLLM's placeholder)."""
    out: list[int] = []
    for tok in ids:
        if tok == image_token_id and out and out[-1] == image_token_id:
            continue
        out.append(int(tok))
    return out


def rollout_processor_kwargs(processor: Any) -> dict[str, Any]:
    """The trainer processor's own pixel budget, in the form vLLM hands to the HF processor."""
    size = getattr(getattr(processor, "image_processor", None), "size", None)
    if not size:
        return {}
    size = dict(size)
    if "shortest_edge" in size and "longest_edge" in size:
        return {
            "size": {"shortest_edge": size["shortest_edge"], "longest_edge": size["longest_edge"]}
        }
    return {}


def blocked_token_ids(model_config: Any) -> list[int]:
    ids = [getattr(model_config, k, None) for k in ("image_token_id", "video_token_id")]
    return sorted({int(i) for i in ids if i is not None})


class RolloutPromptMismatch(RuntimeError):
    """vLLM expanded a prompt to other ids than the trainer's: the rollout would be off-policy."""


class _AlignedLLM:
    """The colocated `vllm.LLM`, with per-request pixel limits and blocked image tokens.

    Only `generate` changes; everything else (`llm_engine`, `reset_prefix_cache`, `sleep`, ...)
    is the LLM's own.
    """

    def __init__(self, llm: Any, processor_kwargs: dict[str, Any], blocked: list[int]) -> None:
        self._llm = llm
        self._processor_kwargs = processor_kwargs
        self._blocked = blocked

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llm, name)

    def generate(self, prompts, sampling_params=None, **kwargs):
        rows = []
        for row in prompts:
            if isinstance(row, dict) and "multi_modal_data" in row and self._processor_kwargs:
                row = {**row, "mm_processor_kwargs": dict(self._processor_kwargs)}
            rows.append(row)
        if sampling_params is not None and self._blocked:
            sampling_params = _with_blocked(sampling_params, self._blocked)
        return self._llm.generate(rows, sampling_params=sampling_params, **kwargs)


def _with_blocked(params: Any, blocked: list[int]) -> Any:
    if isinstance(params, list):
        return [_with_blocked(p, blocked) for p in params]
    params = params.clone()
    bias = dict(params.logit_bias or {})
    bias.update({tok: float("-inf") for tok in blocked})
    params.logit_bias = bias
    return params


class AlignedVLLMGeneration:
    """trl's `VLLMGeneration` (colocate), generating from the trainer's exact prompt ids."""

    def __init__(self, inner: Any, processor: Any, model_config: Any) -> None:
        self._inner = inner
        self.image_token_id = int(model_config.image_token_id)
        inner.llm = _AlignedLLM(
            inner.llm, rollout_processor_kwargs(processor), blocked_token_ids(model_config)
        )
        self.mismatches = 0  # prompts whose vLLM ids differed (each one fails its step)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @property
    def on_cpu(self) -> bool:
        from vllm.platforms import current_platform

        return current_platform.is_cpu()

    def sync_weights(self) -> None:
        inner = self._inner
        if self.on_cpu and not inner.enable_sleep_mode:
            runner = inner.llm.llm_engine.model_executor.driver_worker.model_runner
            runner.reload_weights(weights_iterator=inner._iter_named_params())
            inner.llm.reset_prefix_cache()
        else:
            inner.sync_weights()
        # Embeddings computed by the vision tower before this update must not be reused.
        inner.llm.llm_engine.reset_encoder_cache()

    def generate(self, prompts, images, num_generations, profiler=None):
        if images is None or self._inner.mode != "colocate":
            return self._inner.generate(prompts, images, num_generations, profiler)
        sent = [
            collapse_image_runs(ids, self.image_token_id) if imgs is not None else list(ids)
            for ids, imgs in zip(prompts, images, strict=True)
        ]
        prompt_ids, completion_ids, logprobs, logprob_token_ids = self._inner.generate(
            sent, images, num_generations, profiler
        )
        for i, (trained, rolled) in enumerate(zip(prompts, prompt_ids, strict=True)):
            if list(trained) != list(rolled):
                self.mismatches += 1
                n_t = sum(1 for t in trained if t == self.image_token_id)
                n_r = sum(1 for t in rolled if t == self.image_token_id)
                raise RolloutPromptMismatch(
                    f"rollout prompt {i}: vLLM expanded it to {len(rolled)} tokens "
                    f"({n_r} image tokens), the trainer trains on {len(trained)} ({n_t} image "
                    "tokens); vLLM and the trainer's processor resize this image differently"
                )
        return prompt_ids, completion_ids, logprobs, logprob_token_ids


@contextlib.contextmanager
def rollout_dtype(dtype: str, enabled: bool = True) -> Iterator[None]:
    """While trl builds its colocated engine, `LLM(...)` gets `dtype` (see item 6 above)."""
    if not enabled:
        yield
        return
    import trl.generation.vllm_generation as trl_vllm

    original = trl_vllm.LLM
    trl_vllm.LLM = functools.partial(original, dtype=dtype)
    try:
        yield
    finally:
        trl_vllm.LLM = original


def align_rollouts(trainer: Any, processor: Any) -> None:
    """Wrap a GRPOTrainer's vLLM rollouts (see the module docstring); no-op without vLLM."""
    generation = getattr(trainer, "vllm_generation", None)
    if not getattr(trainer, "use_vllm", False) or generation is None:
        return
    if isinstance(generation, AlignedVLLMGeneration):
        return
    config = trainer.model.config
    if getattr(config, "image_token_id", None) is None:
        return  # a text-only model: trl's path is already exact
    trainer.vllm_generation = AlignedVLLMGeneration(generation, processor, config)


def vllm_works() -> tuple[bool, str]:
    """(usable, why not): vLLM is importable and its platform can run here (CUDA or its CPU build)."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return False, "vllm is not installed (pip install 'ovlt[vllm]'; make setup-vllm on a CPU)"
    try:
        from vllm.platforms import current_platform
    except Exception as err:  # a broken install must not take the run down; auto falls back
        return False, f"vllm does not import: {type(err).__name__}: {str(err)[:200]}"
    if current_platform.is_cuda() or current_platform.is_cpu():
        return True, ""
    return False, f"vllm's platform here is {type(current_platform).__name__}, not CUDA or CPU"


def resolve_use_vllm(setting: str) -> bool:
    """`auto`: vLLM where it is installed and works, CUDA or not; `on`: required; `off`: never."""
    if setting == "off":
        return False
    ok, why = vllm_works()
    if setting == "on" and not ok:
        raise UserError(f"use_vllm=on but {why}; set use_vllm=auto or off")
    return ok
