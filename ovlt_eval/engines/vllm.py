"""The `vllm` engine: in-process `vllm.LLM` with image inputs. GPU only.

vLLM is an optional extra (`pip install 'ovlt[vllm]'`) and needs a CUDA GPU; it is imported
only when this engine is built. Without a GPU, serve the model with `vllm serve` elsewhere, or
use the `hf` engine, or any OpenAI-compatible server through the `openai` engine.

Requests are sent to `LLM.chat` in chunks (vLLM schedules them with continuous batching);
images travel as data URLs, byte for byte. Sampling parameters, `n` and per-request seeds are
vLLM's own.

Pixel limits: the model's processor resizes with the base model's limits (`pixels.py`: the
Qwen2.5-VL-7B-Instruct processor, as the reference evaluates every model) unless `min_pixels` /
`max_pixels` are given, passed as `mm_processor_kwargs` (how vLLM overrides a Hugging Face
processor's settings), so a checkpoint saved with a training budget is not evaluated on
shrunken images. Models whose processor has no such settings ignore them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ovlt_eval.engines.images import ImageError, image_parts, to_data_url
from ovlt_eval.engines.pixels import resolve_pixel_limits
from ovlt_eval.engines.types import GenerationRequest, GenerationResult, SamplingParams
from ovlt_eval.errors import UserError


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
        except ImportError:
            raise UserError(
                "engine 'vllm' needs vLLM and a CUDA GPU: pip install 'ovlt[vllm]' "
                "(or use --engine hf, or --engine openai with a running server)"
            ) from None
        self.model_id = model
        self.revision = revision
        self.pixel_limits = resolve_pixel_limits(min_pixels, max_pixels)
        self.chunk_size = chunk_size
        mm_kwargs = {
            **dict(llm_kwargs.pop("mm_processor_kwargs", None) or {}),
            "min_pixels": self.pixel_limits.min_pixels,
            "max_pixels": self.pixel_limits.max_pixels,
        }
        self._options = {
            "dtype": dtype,
            "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            "max_model_len": max_model_len,
            "max_images_per_prompt": max_images_per_prompt,
            "pixels": {**self.pixel_limits.describe(), "applied_by": "processor"},
            **{k: v for k, v in llm_kwargs.items() if isinstance(v, str | int | float | bool)},
        }
        try:
            self.llm = vllm.LLM(
                model=model,
                revision=revision,
                dtype=dtype,
                tensor_parallel_size=tensor_parallel_size,
                gpu_memory_utilization=gpu_memory_utilization,
                max_model_len=max_model_len,
                limit_mm_per_prompt={"image": max_images_per_prompt},
                mm_processor_kwargs=mm_kwargs,
                **llm_kwargs,
            )
        except (OSError, ValueError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(f"vllm cannot load model {model!r}: {first}") from None
        self._vllm_version = getattr(vllm, "__version__", None)

    def describe(self) -> dict[str, Any]:
        config = getattr(getattr(self.llm, "llm_engine", None), "model_config", None)
        return {
            "engine": self.name,
            "model": self.model_id,
            "model_revision": self.revision,
            "dtype": str(getattr(config, "dtype", self._options["dtype"])).removeprefix("torch."),
            "vllm_version": self._vllm_version,
            "options": dict(self._options),
        }

    def generate(self, requests: Iterable[GenerationRequest]) -> Iterator[GenerationResult]:
        chunk: list[tuple[GenerationRequest, list[dict]]] = []
        for req in requests:
            try:
                chunk.append((req, self._to_chat(req.messages)))
            except ImageError as err:
                yield GenerationResult(id=req.id, outputs=(), status="error", error=f"image: {err}")
                continue
            if len(chunk) >= self.chunk_size:
                yield from self._run(chunk)
                chunk = []
        if chunk:
            yield from self._run(chunk)

    def _run(self, chunk) -> Iterator[GenerationResult]:
        params = [_sampling(req.sampling, req.n) for req, _ in chunk]
        outputs = self.llm.chat([conv for _, conv in chunk], sampling_params=params, use_tqdm=False)
        for (req, _), out in zip(chunk, outputs, strict=True):
            yield GenerationResult(
                id=req.id,
                outputs=tuple(c.text for c in out.outputs),
                finish_reasons=tuple(c.finish_reason or "" for c in out.outputs),
                completion_tokens=tuple(len(c.token_ids) for c in out.outputs),
            )

    def _to_chat(self, messages) -> list[dict]:
        conv = []
        for message in messages:
            content = message.get("content")
            if isinstance(content, list):
                if image_parts(message):
                    content = [
                        {
                            "type": "image_url",
                            "image_url": {"url": to_data_url(p["image"])},
                        }
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
