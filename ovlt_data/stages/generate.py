"""Model stages: `caption` (a VLM describes the image) and `distill` (k reasoning samples)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ovlt_data import prompts
from ovlt_data.schema import Row
from ovlt_data.stages import Stage, StageParams, register_stage


class CaptionParams(StageParams):
    model: str = "captioner"
    prompt: str = prompts.CAPTION_PROMPT


class Caption(Stage):
    name = "caption"
    default_pools = ("sft",)

    def calls_per_row(self) -> int:
        return 1

    def apply(self, rows: list[Row]) -> list[Row]:
        model = self.ctx.models[self.params.model]
        need = [r for r in rows if r.example.images]
        results = model.run(
            [(r.id, prompts.image_message(r.example, self.params.prompt), 1) for r in need]
        )
        out = []
        for r in rows:
            if not r.example.images:  # a text-only item needs no caption
                out.append(r.evolve(caption=""))
                continue
            res = results[r.id]
            if res.outputs is None:
                out.append(self.drop(r, "model_error", res.error or ""))
            elif not res.outputs[0].strip():
                out.append(self.drop(r, "empty_caption"))
            else:
                out.append(r.evolve(caption=res.outputs[0].strip()))
        return out


class DistillParams(StageParams):
    model: str = "reasoner"
    k: int = Field(4, gt=0, le=64)
    # caption: text model on caption + question (round 1); image: VLM on image + question (round >= 2)
    mode: Literal["caption", "image"] = "caption"
    prompt: str | None = None  # default: prompts.DISTILL_FROM_CAPTION / DISTILL_FROM_IMAGE


class Distill(Stage):
    name = "distill"
    default_pools = ("sft",)

    def requires(self) -> str | None:
        return "caption" if self.params.mode == "caption" else None

    def calls_per_row(self) -> int:
        return self.params.k

    def _messages(self, r: Row) -> list[dict]:
        q = prompts.question_block(r.example)
        if self.params.mode == "caption":
            tpl = self.params.prompt or prompts.DISTILL_FROM_CAPTION
            return prompts.text_message(tpl.format(caption=r.caption or "(no image)", question=q))
        tpl = self.params.prompt or prompts.DISTILL_FROM_IMAGE
        return prompts.image_message(r.example, tpl.format(question=q, caption=r.caption or ""))

    def apply(self, rows: list[Row]) -> list[Row]:
        if self.params.mode == "caption":
            rows = [
                r
                if r.caption is not None
                else self.drop(r, "no_caption", "distill mode=caption needs a caption stage first")
                for r in rows
            ]
        live = [r for r in rows if not r.dropped]
        results = self.ctx.models[self.params.model].run(
            [(r.id, self._messages(r), self.params.k) for r in live]
        )
        out = []
        for r in rows:
            if r.dropped:
                out.append(r)
                continue
            res = results[r.id]
            if res.outputs is None:
                out.append(self.drop(r, "model_error", res.error or ""))
            else:
                out.append(r.evolve(samples=res.outputs))
        return out


register_stage(Caption, CaptionParams, "a VLM writes a detailed caption of each image")
register_stage(
    Distill, DistillParams, "k reasoning samples from a text model (caption) or a VLM (image)"
)
