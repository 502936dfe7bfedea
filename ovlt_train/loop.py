"""`ovlt-train loop`: the self-improvement rounds, resumable at the first unfinished step.

Round i:  data (ovlt-data build; round 1 distils, later rounds generate with GRPO-(i-1))
          → SFT from the base model → [eval SFT-Iter(i)] → GRPO medium → GRPO hard → eval GRPO-Iter(i)

Evaluation follows the reference: the base model with the `qwen` profile (eval_qwen.py), every
checkpoint with `openvlthinker` (eval_openvlthinker.py), scored under `--protocol reference`
(the other two protocols are recorded beside it), each at the base processor's image pixel
limits whatever budget the checkpoint was trained at. A `benches` entry `NAME:SPLIT` picks a
split, e.g. `mathvision:test` for MathVision's full test set next to `mathvision` (testmini).

Each step writes into its own directory under the work dir and is recorded in
`loop_manifest.json` (output path, version, inputs, result, timings) when — and only when —
it has finished. A killed loop re-runs from the first step whose record is not `done`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ovlt_eval.errors import UserError
from ovlt_train.cards import GRPOCard, LoopCard, SFTCard, card_dict, load_card, read_yaml
from ovlt_train.manifest import MANIFEST_NAME, Manifest, digest, exclusive, output_version

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    id: str  # "r1.sft", "r1.grpo_medium", "r0.eval.base"
    round: int
    kind: str  # data | sft | grpo | eval
    config: str | None = None  # the GRPO stage's dataset config
    target: str | None = (
        None  # eval: the step id whose checkpoint is scored ("base" for the base model)
    )
    needs: tuple[str, ...] = field(default=())

    @property
    def label(self) -> str:
        if self.kind != "eval":
            return self.id
        return "base" if self.target == "base" else _checkpoint_label(self.target)


def _checkpoint_label(step_id: str) -> str:
    r, _, kind = step_id.partition(".")
    n = r.lstrip("r")
    return f"SFT-Iter{n}" if kind == "sft" else f"GRPO-Iter{n}"


def plan(card: LoopCard) -> list[Step]:
    steps: list[Step] = []
    if card.eval_base and card.benches:
        steps.append(Step("r0.eval.base", 0, "eval", target="base"))
    for r in range(1, card.rounds + 1):
        prev_final = f"r{r - 1}.{card.curriculum[-1]}" if r > 1 else None
        data = Step(f"r{r}.data", r, "data", needs=(prev_final,) if prev_final else ())
        sft = Step(f"r{r}.sft", r, "sft", needs=(data.id,))
        steps += [data, sft]
        if "sft" in card.eval_after and card.benches:
            steps.append(Step(f"r{r}.eval.sft", r, "eval", target=sft.id, needs=(sft.id,)))
        prev = sft.id
        for cfg in card.curriculum:
            step = Step(f"r{r}.{cfg}", r, "grpo", config=cfg, needs=(prev, data.id))
            steps.append(step)
            prev = step.id
        if "grpo" in card.eval_after and card.benches:
            steps.append(Step(f"r{r}.eval.grpo", r, "eval", target=prev, needs=(prev,)))
    return steps


class LoopRunner:
    def __init__(self, card: LoopCard, manifest: Manifest):
        self.card = card
        self.m = manifest
        self.work = manifest.work_dir

    # -- helpers -------------------------------------------------------------------------
    def output_of(self, step_id: str) -> str:
        if step_id == "base":
            return self.card.base_model
        rec = self.m.step(step_id)
        if rec.get("status") != "done":
            raise RuntimeError(f"step {step_id} has not finished")
        return rec["output"]

    def step_dir(self, step: Step) -> Path:
        return self.work / f"round{step.round}" / step.id.split(".", 1)[1].replace(".", "-")

    # -- executors -----------------------------------------------------------------------
    def run_data(self, step: Step) -> tuple[str, dict[str, Any]]:
        from ovlt_train.loop_steps import build_round_data

        generator = self.output_of(step.needs[0]) if step.needs else None
        out, info = build_round_data(
            card_path=self.card.card_for_round(step.round),
            round_number=step.round,
            out_dir=self.step_dir(step),
            generator_checkpoint=generator,
            generator_version=self.m.step(step.needs[0]).get("version", "") if step.needs else "",
            generator_key=self.card.generator_models,
            generator_engine=self.card.generator_engine,
            generator_options=self.card.generator_options,
            overrides={
                **self.card.data_overrides,
                **(self.card.later_rounds_data_overrides if step.round > 1 else {}),
            },
            cache_path=self.work / "data_cache.sqlite",
        )
        return str(out), info

    def _train(self, argv: list[str]) -> None:
        """One `ovlt-train` command: in this process, or under the card's launcher (accelerate)."""
        if self.card.launcher:
            import subprocess
            import sys

            cmd = [*self.card.launcher, "-m", "ovlt_train.cli", *argv]
            if self.card.launcher[0] == "python":
                cmd = [sys.executable, "-m", "ovlt_train.cli", *argv]
            rc = subprocess.run(cmd).returncode
        else:
            from ovlt_train.cli import main

            rc = main(argv)
            _free_accelerator_memory()
        if rc != 0:
            raise UserError(f"`ovlt-train {argv[0]}` failed (exit {rc}); its message is above")

    @staticmethod
    def _sets(overrides: dict[str, Any]) -> list[str]:
        import json

        out = []
        for key, value in overrides.items():
            out += ["--set", f"{key}={json.dumps(value)}"]
        return out

    def run_sft(self, step: Step) -> tuple[str, dict[str, Any]]:
        data_dir = self.output_of(step.needs[0])
        out = self.step_dir(step)
        argv = ["sft", "--data", f"{data_dir}@sft", "--model", self.card.base_model]
        argv += [
            "--card",
            self.card.sft_card,
            "--out",
            str(out),
            *self._sets(self.card.sft_overrides),
        ]
        self._train(argv)
        return str(out), _train_summary(out)

    def run_grpo(self, step: Step) -> tuple[str, dict[str, Any]]:
        import json

        init, data_dir = self.output_of(step.needs[0]), self.output_of(step.needs[1])
        root = self.step_dir(step)
        argv = ["grpo", "--data", f"{data_dir}@{step.config}", "--model", init]
        argv += [
            "--card",
            self.card.grpo_card,
            "--out",
            str(root),
            *self._sets(self.card.grpo_overrides),
        ]
        self._train(argv)
        (stage,) = json.loads((root / "stages.json").read_text())["stages"]
        if "skipped" in stage:
            return init, {"skipped": stage["skipped"]}
        return stage["checkpoint"], _train_summary(stage["checkpoint"])

    def run_eval(self, step: Step) -> tuple[str, dict[str, Any]]:
        from ovlt_train.loop_steps import eval_profile, evaluate

        model = self.output_of(step.target)
        out = self.step_dir(step) if step.target != "base" else self.work / "round0" / "eval-base"
        # The base model is prompted as eval_qwen.py does, checkpoints as eval_openvlthinker.py.
        scores = evaluate(
            model=model,
            benches=self.card.benches,
            out_dir=out,
            extra_args=self.card.eval_args,
            profile=eval_profile(step.target or ""),
        )
        return str(out), {"label": step.label, "scores": scores}

    # -- driver --------------------------------------------------------------------------
    def run(self, steps: list[Step]) -> None:
        executors = {
            "data": self.run_data,
            "sft": self.run_sft,
            "grpo": self.run_grpo,
            "eval": self.run_eval,
        }
        for step in steps:
            if self.m.is_done(step.id):
                log.info("step %s: done earlier, skipped", step.id)
                continue
            inputs = {n: self.m.step(n).get("version", "") for n in step.needs}
            print(f"ovlt-train loop: {step.id} …", flush=True)
            self.m.start(
                step.id,
                {
                    "round": step.round,
                    "kind": step.kind,
                    "needs": list(step.needs),
                    "inputs": inputs,
                },
            )
            t0 = time.monotonic()
            try:
                output, result = executors[step.kind](step)
            except BaseException as err:
                self.m.fail(step.id, f"{type(err).__name__}: {err}".splitlines()[0][:500])
                raise
            version = output_version(output, inputs)
            self.m.finish(
                step.id,
                output=output,
                version=version,
                result=result,
                seconds=time.monotonic() - t0,
            )
            note = (
                " (skipped: too little data; the model passes through)"
                if "skipped" in result
                else ""
            )
            print(
                f"ovlt-train loop: {step.id} done in {time.monotonic() - t0:.1f}s → {output} ({version}){note}",
                flush=True,
            )


def _free_accelerator_memory() -> None:
    import gc

    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def _train_summary(out: str | Path) -> dict[str, Any]:
    import json

    rec = json.loads((Path(out) / "ovlt_train.json").read_text())
    keep = ("train_loss", "global_steps", "n_examples", "n_prompts", "stats", "resolved")
    return {k: rec[k] for k in keep if k in rec}


def load_loop_card(path: str | Path, overrides: list[str] | None) -> LoopCard:
    from ovlt_train.loop_steps import parse_benches

    card = load_card(LoopCard, path, overrides)
    parse_benches(card.benches)  # `mathvision:test` etc.: a typo fails now, not after training
    for name in ("sft_card", "grpo_card"):
        read_yaml(
            getattr(card, name)
        )  # a missing training card fails now, not after round 1's data
    load_card(SFTCard, card.sft_card, card.sft_overrides)
    load_card(GRPOCard, card.grpo_card, card.grpo_overrides)
    return card


def run_loop(
    *, card_path: str | Path, overrides: list[str] | None = None, dry_run: bool = False
) -> Path:
    card = load_loop_card(card_path, overrides)
    steps = plan(card)
    work = Path(card.work_dir)
    identity = {k: v for k, v in card_dict(card).items() if k != "rounds"}
    if dry_run:  # reads the manifest if there is one; writes nothing
        path = work / MANIFEST_NAME
        recorded = json.loads(path.read_text()).get("steps", {}) if path.is_file() else {}
        for s in steps:
            rec = recorded.get(s.id, {})
            print(f"{s.id:24s} {rec.get('status', 'pending'):8s} {rec.get('output', '')}")
        return path
    with exclusive(work):
        manifest = Manifest.open(
            work, name=card.name, card=card_dict(card), card_digest=digest(identity)
        )
        LoopRunner(card, manifest).run(steps)
        from ovlt_train.summary import write_summary

        table = write_summary(manifest, steps, card.benches)
    print(table)
    return manifest.path


__all__ = ["Step", "plan", "run_loop", "LoopRunner", "UserError"]
