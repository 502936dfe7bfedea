"""The `hf` engine: in-process transformers (`AutoModelForImageTextToText` + `AutoProcessor`).

Batched generation with left padding. Requests are read in windows of `8 x batch_size`,
sorted by prompt size inside the window (less padding), and generated `batch_size` at a time;
results come out in completion order.

Sampling: `temperature <= 0.01` or `top_k == 1` is greedy (`do_sample=False`), which is what the
paper's near-greedy defaults (temperature 0.01, top_k 1) amount to. With sampling, one seed is
set per batch (the first request's), so sampled outputs depend on how requests were batched;
`describe()` says so.
For greedy requests with n > 1 the one greedy output is repeated n times (they would be equal).

Batch invariance: greedy outputs are identical whatever the batch size only in fp32 on a CPU
(tested). On a GPU in bf16, batching changes the kernels' reduction order and left padding
changes the shapes: measured on an H200 (bench/gpu_engines.py, 1.1 B Qwen2.5-VL, 32 MathVision
items, 64 new tokens, greedy, bf16), batch 16 ran 3.8-4.3x faster than batch 1, but only 0 and
2 of the 32 outputs were identical to batch 1's in two runs. `reproducible=True` (the CLI's
`--reproducible`) is batch 1 in fp32 with TF32 off and deterministic cuDNN: no batch
neighbours, no padding, no reduced-precision kernels. That makes outputs stable from run to run
on one machine and library stack; it does not make them equal across GPUs or versions.

Images: the processor's pixel limits are the base model's (`pixels.py`: Qwen2.5-VL-7B-Instruct,
as the reference evaluates every model) unless `min_pixels` / `max_pixels` are given, so a
checkpoint saved with a training budget is not evaluated on shrunken images. Each image is first
resized with PIL to the processor's own target size (`smart_resize`), as the reference's
`qwen_vl_utils.process_vision_info` does, so the processor's resize is then a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ovlt_eval.engines.images import ImageError, load_pil
from ovlt_eval.engines.pixels import fit_pixels, processor_pixel_limits, resolve_pixel_limits
from ovlt_eval.engines.types import GenerationRequest, GenerationResult, SamplingParams
from ovlt_eval.errors import UserError

GREEDY_TEMPERATURE = 0.01


def is_greedy(s: SamplingParams) -> bool:
    return s.temperature <= GREEDY_TEMPERATURE or s.top_k == 1


class HFEngine:
    name = "hf"

    def __init__(
        self,
        model: str,
        *,
        revision: str | None = None,
        processor: str | None = None,
        dtype: str = "auto",
        device: str = "auto",
        batch_size: int | None = None,
        attn_implementation: str | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        reproducible: bool = False,
        trust_remote_code: bool = False,
    ) -> None:
        import torch

        if reproducible:
            batch_size, dtype = _reproducible_settings(batch_size, dtype)
        batch_size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
        if batch_size < 1:
            raise UserError(f"batch_size must be >= 1, got {batch_size}")
        self.model_id = model
        self.revision = revision
        self.processor_id = processor or model
        self.batch_size = batch_size
        self.reproducible = reproducible
        self.pixel_limits = resolve_pixel_limits(min_pixels, max_pixels)
        self.attn_implementation = attn_implementation
        self.device = (
            ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        )
        self.torch_dtype = _resolve_dtype(dtype, self.device)
        if reproducible:
            _deterministic_kernels()
        self.model, self.processor = _load(
            model,
            self.processor_id,
            revision=revision,
            torch_dtype=self.torch_dtype,
            attn_implementation=attn_implementation,
            trust_remote_code=trust_remote_code,
        )
        self.model.to(self.device)
        # What the checkpoint's own processor says, then the limits this run evaluates with.
        self.checkpoint_pixels = processor_pixel_limits(self.processor)
        if self.checkpoint_pixels is not None:
            _set_processor_pixels(self.processor, self.pixel_limits)
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.tokenizer.padding_side = "left"  # generation continues from the right edge
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._eos_ids = _eos_ids(self.model.generation_config, self.tokenizer)
        self._sampled = False

    def describe(self) -> dict[str, Any]:
        notes = []
        if self._sampled:
            notes.append("sampling: one seed per batch; sampled outputs depend on batching")
        pixels = {
            **self.pixel_limits.describe(),
            "applied_by": "processor" if self.checkpoint_pixels is not None else "PIL resize",
            "checkpoint_processor": self.checkpoint_pixels,
        }
        if self.checkpoint_pixels is None and self.pixel_limits.source == "base":
            # Not a dynamic-resolution (Qwen2-VL style) processor: its own fixed size applies.
            pixels.update(min_pixels=None, max_pixels=None, applied_by="processor's own size")
        return {
            "engine": self.name,
            "model": self.model_id,
            "model_revision": self.revision,
            "model_commit": getattr(self.model.config, "_commit_hash", None),
            "dtype": str(self.torch_dtype).removeprefix("torch."),
            "device": self.device,
            "options": {
                "batch_size": self.batch_size,
                "reproducible": self.reproducible,
                "processor": self.processor_id,
                "attn_implementation": self.model.config._attn_implementation,
                "pixels": pixels,
                "padding_side": "left",
                "greedy_when": f"temperature <= {GREEDY_TEMPERATURE} or top_k == 1",
            },
            "notes": notes,
        }

    def generate(self, requests: Iterable[GenerationRequest]) -> Iterator[GenerationResult]:
        window: list[tuple[GenerationRequest, list[dict], list[Any], str]] = []
        for req in requests:
            try:
                window.append(self._prepare(req))
            except ImageError as err:
                yield GenerationResult(id=req.id, outputs=(), status="error", error=f"image: {err}")
                continue
            if len(window) >= 8 * self.batch_size:
                yield from self._run_window(window)
                window = []
        if window:
            yield from self._run_window(window)

    # ----- internals -----

    def _prepare(self, req: GenerationRequest):
        images: list[Any] = []
        messages = []
        for message in req.messages:
            content = message.get("content")
            if isinstance(content, list):
                parts = []
                for part in content:
                    if part.get("type") == "image":
                        images.append(self._resize(load_pil(part["image"])))
                        parts.append({"type": "image"})
                    else:
                        parts.append(part)
                content = parts
            messages.append({"role": message["role"], "content": content})
        text = self.processor.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        return req, messages, images, text

    def _resize(self, pil):
        limits = self.pixel_limits
        if self.checkpoint_pixels is None:  # a fixed-size processor: only a user's limits apply
            if limits.source != "user":
                return pil
            size = fit_pixels(pil.width, pil.height, limits)
        else:
            from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

            ip = self.processor.image_processor
            factor = ip.patch_size * ip.merge_size
            try:
                height, width = smart_resize(
                    pil.height,
                    pil.width,
                    factor=factor,
                    min_pixels=limits.min_pixels,
                    max_pixels=limits.max_pixels,
                )
            except ValueError as err:  # aspect ratio over 200: the processor would refuse too
                raise ImageError(str(err)) from None
            size = (width, height)
        if size == pil.size:
            return pil
        from PIL import Image

        # qwen_vl_utils.fetch_image: `image.resize((w, h))`, PIL's default filter (bicubic)
        return pil.resize(size, Image.Resampling.BICUBIC)

    def _run_window(self, window) -> Iterator[GenerationResult]:
        # Group same sampling together, shortest prompts together: fewer pads, fewer batches.
        def key(item):
            req, _, images, text = item
            return (_sampling_key(req), len(images), len(text))

        window = sorted(window, key=key)
        batch: list = []
        for item in window:
            if batch and (
                len(batch) >= self.batch_size
                or _sampling_key(batch[0][0]) != _sampling_key(item[0])
            ):
                yield from self._run_batch(batch)
                batch = []
            batch.append(item)
        if batch:
            yield from self._run_batch(batch)

    def _run_batch(self, batch) -> Iterator[GenerationResult]:
        import torch

        reqs = [item[0] for item in batch]
        s = reqs[0].sampling
        texts = [item[3] for item in batch]
        images = [img for item in batch for img in item[2]]
        try:
            inputs = self.processor(
                text=texts, images=images or None, padding=True, return_tensors="pt"
            ).to(self.device)
        except Exception as err:  # one bad item must not sink the run: split and retry
            if len(batch) > 1:
                for item in batch:
                    yield from self._run_batch([item])
                return
            yield GenerationResult(
                id=reqs[0].id, outputs=(), status="error", error=f"processor: {err}"
            )
            return
        greedy = is_greedy(s)
        n = max(r.n for r in reqs)
        gen_kwargs: dict[str, Any] = {
            "max_new_tokens": s.max_tokens,
            "repetition_penalty": s.repetition_penalty,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if greedy:
            gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            self._sampled = True
            gen_kwargs.update(
                do_sample=True,
                temperature=s.temperature,
                top_p=s.top_p,
                top_k=s.top_k if s.top_k and s.top_k > 0 else None,
                num_return_sequences=n,
            )
            if s.seed is not None:
                torch.manual_seed(s.seed)
        if s.stop:
            gen_kwargs.update(stop_strings=list(s.stop), tokenizer=self.tokenizer)
        with torch.inference_mode():
            out = self.model.generate(**inputs, **gen_kwargs)
        prompt_len = inputs["input_ids"].shape[1]
        new_tokens = out[:, prompt_len:].tolist()
        # Each item's own prompt length: the batch's width less its left padding.
        mask = inputs.get("attention_mask")
        prompt_tokens = (
            [int(v) for v in mask.sum(dim=1).tolist()]
            if mask is not None
            else [prompt_len] * len(reqs)
        )
        per_req = 1 if greedy else n
        for i, req in enumerate(reqs):
            rows = new_tokens[i * per_req : (i + 1) * per_req]
            decoded = [self._decode(row, s) for row in rows]
            if greedy:
                decoded = decoded * req.n
            else:
                decoded = decoded[: req.n]
            yield GenerationResult(
                id=req.id,
                outputs=tuple(d[0] for d in decoded),
                finish_reasons=tuple(d[1] for d in decoded),
                completion_tokens=tuple(d[2] for d in decoded),
                prompt_tokens=prompt_tokens[i],
            )

    def _decode(self, row: list[int], s: SamplingParams) -> tuple[str, str, int]:
        # Cut at the first end-of-sequence: later positions are padding of shorter rows.
        length = len(row)
        finish = "length"
        for pos, tok in enumerate(row):
            if tok in self._eos_ids:
                length, finish = pos + 1, "stop"
                break
        text = self.tokenizer.decode(
            row[:length], skip_special_tokens=True, clean_up_tokenization_spaces=False
        )
        for stop in s.stop:  # OpenAI semantics: the stop string is not part of the text
            cut = text.find(stop)
            if cut >= 0:
                text, finish = text[:cut], "stop"
        return text, finish, length


DEFAULT_BATCH_SIZE = 8


def _reproducible_settings(batch_size: int | None, dtype: str) -> tuple[int, str]:
    """`reproducible` means batch 1 in fp32; asking for it with other values is a contradiction."""
    if batch_size not in (None, 1):
        raise UserError(f"reproducible evaluation runs at batch size 1, not {batch_size}")
    if dtype not in ("auto", "float32", None):
        raise UserError(f"reproducible evaluation runs in float32, not {dtype}")
    return 1, "float32"


def _deterministic_kernels() -> None:
    # fp32 on a GPU still uses TF32 tensor cores for convolutions (the vision patch embedding)
    # unless told otherwise, and cuDNN may pick kernels by timing. Process-wide, by request.
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def _set_processor_pixels(processor, limits) -> None:
    ip = processor.image_processor
    ip.size = {
        **dict(ip.size),
        "shortest_edge": limits.min_pixels,
        "longest_edge": limits.max_pixels,
    }
    for name in ("min_pixels", "max_pixels"):  # older transformers read these attributes
        if hasattr(ip, name):
            setattr(ip, name, getattr(limits, name))


def _sampling_key(req: GenerationRequest) -> tuple:
    s = req.sampling
    if is_greedy(s):  # all greedy requests batch together whatever their temperature
        return ("greedy", s.max_tokens, s.repetition_penalty, s.stop)
    return (
        "sample",
        s.max_tokens,
        s.repetition_penalty,
        s.stop,
        s.temperature,
        s.top_p,
        s.top_k,
        s.seed,
    )


def _resolve_dtype(dtype: str, device: str):
    import torch

    if dtype == "auto":
        # fp32 on CPU: bf16 matmuls there are slow and differ more between batch shapes.
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        value = getattr(torch, dtype)
    except AttributeError:
        value = None
    if not isinstance(value, torch.dtype):
        raise UserError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16")
    return value


def _load(model, processor_id, *, revision, torch_dtype, attn_implementation, trust_remote_code):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    kwargs: dict[str, Any] = {"revision": revision, "trust_remote_code": trust_remote_code}
    try:
        processor = AutoProcessor.from_pretrained(processor_id, **kwargs)
        loaded = AutoModelForImageTextToText.from_pretrained(
            model, dtype=torch_dtype, attn_implementation=attn_implementation, **kwargs
        )
    except (OSError, ValueError, KeyError) as err:
        hint = (
            ""
            if Path(model).exists()
            else " (not a local directory; as a Hub id it could not be loaded)"
        )
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"cannot load model {model!r}{hint}: {first}") from None
    return loaded.eval(), processor


def _eos_ids(generation_config, tokenizer) -> set[int]:
    ids = generation_config.eos_token_id
    if ids is None:
        ids = tokenizer.eos_token_id
    if isinstance(ids, int):
        ids = [ids]
    return set(ids or [])


__all__: Sequence[str] = ("HFEngine", "is_greedy")
