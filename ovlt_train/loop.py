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
from ovlt_train.manifest import (
    MANIFEST_NAME,
    Manifest,
    digest,
    exclusive,
    output_version,
    read_manifest_file,
)

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
    def __init__(self, card: LoopCard, manifest: Manifest, *, progress: bool = True):
        self.card = card
        self.progress = progress  # the trainers' bars (data build and eval run quiet here)
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

        generator, version, ref = None, "", "final"
        if step.needs:
            ref = self.card.generate_from_for(step.round)
            skipped = self.m.step(step.needs[0]).get("result", {}).get("skipped")
            if skipped and ref != "final":  # the stage did not train: it has no step folders
                ref = f"final ({step.needs[0]} skipped, no {ref} checkpoint)"
            generator = generator_checkpoint(self.output_of(step.needs[0]), ref, step.needs[0])
            version = self.m.step(step.needs[0]).get("version", "")
            version = version if ref == "final" else f"{version}-{ref}"
        out, info = build_round_data(
            card_path=self.card.card_for_round(step.round),
            out_dir=self.step_dir(step),
            generator_checkpoint=generator,
            generator_version=version,
            generator_key=self.card.generator_models,
            generator_engine=self.card.generator_engine,
            generator_options=self.card.generator_options,
            overrides={
                # the loop's round, so the dataset (manifest, card, figures) says which it is
                # when one card serves several rounds (the demo's)
                "round": step.round,
                **self.card.data_overrides,
                **(self.card.later_rounds_data_overrides if step.round > 1 else {}),
            },
            cache_path=self.work / "data_cache.sqlite",
        )
        if step.needs:
            info["generate_from"] = ref  # and info["generator"]: the checkpoint folder used
        return str(out), info

    def _train(self, kind: str, **kwargs: Any) -> list[dict[str, Any]] | None:
        """One training step: the trainer's function in this process, or — with the card's
        launcher (accelerate, a fresh python) — `ovlt-train` in the processes it starts, since a
        multi-GPU run can only be started as a command. GRPO returns its stages."""
        if self.card.launcher:
            _launch(self.card.launcher, training_argv(kind, progress=self.progress, **kwargs))
            return None
        kwargs["progress"] = self.progress
        if kind == "sft":
            from ovlt_train.sft import run_sft

            run_sft(**kwargs)
            _free_accelerator_memory()
            return None
        from ovlt_train.grpo import run_curriculum

        stages = run_curriculum(**kwargs)
        _free_accelerator_memory()
        return stages

    def run_sft(self, step: Step) -> tuple[str, dict[str, Any]]:
        data_dir = self.output_of(step.needs[0])
        out = self.step_dir(step)
        self._train(
            "sft",
            data=f"{data_dir}@sft",
            model=self.card.base_model,
            card_path=self.card.sft_card,
            overrides=self.card.sft_overrides,
            out_dir=str(out),
        )
        return str(out), _train_summary(out)

    def run_grpo(self, step: Step) -> tuple[str, dict[str, Any]]:
        init, data_dir = self.output_of(step.needs[0]), self.output_of(step.needs[1])
        # The round's folder: the stage writes its checkpoint to round<i>/<config> (the trainer
        # names a stage's folder after its config), beside round<i>/sft and round<i>/data.
        root = self.work / f"round{step.round}"
        stages = self._train(
            "grpo",
            data=f"{data_dir}@{step.config}",
            model=init,
            card_path=self.card.grpo_card,
            overrides=self.card.grpo_overrides,
            out_dir=str(root),
            curriculum=step.config,
        )
        if stages is None:  # launched: the trainer's record of the stage it ran
            stages = json.loads((root / "stages.json").read_text())["stages"]
        (stage,) = stages
        if "skipped" in stage:
            return init, {"skipped": stage["skipped"]}
        return stage["checkpoint"], _train_summary(stage["checkpoint"])

    def run_eval(self, step: Step) -> tuple[str, dict[str, Any]]:
        from ovlt_train.loop_steps import eval_profile, evaluate

        model = self.output_of(step.target)
        out = self.step_dir(step) if step.target != "base" else self.work / "round0" / "eval-base"
        # The base model is prompted as eval_qwen.py does, checkpoints as eval_openvlthinker.py.
        from ovlt_eval.benchmarks.loading import benchmark_data_hint

        with benchmark_data_hint(
            lambda b: (
                f"the loop card's eval_options.data, e.g. --set 'eval_options.data={{{b}: PATH}}'"
            )
        ):
            scores = evaluate(
                model=model,
                benches=self.card.benches,
                out_dir=out,
                options=self.card.eval_options,
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


def generator_checkpoint(stage_output: str, ref: str, step_id: str) -> str:
    """The checkpoint that writes the next round's data: the stage's final one, or its
    EasyR1-style `global_step_<n>` (loop card `generate_from`)."""
    from ovlt_train.cards import step_of
    from ovlt_train.grpo_callbacks import step_checkpoint_dir

    n = step_of(ref)
    if n is None:
        return stage_output
    where = step_checkpoint_dir(stage_output, n)
    if not (where / "config.json").is_file():
        saved = sorted(p.name for p in Path(stage_output).glob("global_step_*"))
        raise UserError(
            f"generate_from {ref}: {step_id} saved no {where.name} in {stage_output} "
            f"(saved: {', '.join(saved) or 'none'}; checkpoints.save_steps in the GRPO card sets "
            "how often)"
        )
    return str(where)


def planned_generator(card: LoopCard, step: Step, recorded: dict[str, Any]) -> str:
    """For the dry-run table: which checkpoint a data step generates from."""
    if step.kind != "data" or not step.needs:
        return ""
    ref = card.generate_from_for(step.round)
    from ovlt_train.cards import step_of

    source = recorded.get(step.needs[0], {}).get("output") or f"<{step.needs[0]}>"
    n = step_of(ref)
    where = source if n is None else str(Path(source) / f"global_step_{n}")
    return f"from {step.needs[0]} ({ref}): {where}"


def training_argv(kind: str, *, progress: bool = True, **kwargs: Any) -> list[str]:
    """The `ovlt-train sft|grpo` command line for a launched step (the same keyword arguments
    as the in-process call)."""
    flags = {"data": "--data", "model": "--model", "card_path": "--card", "out_dir": "--out"}
    argv = [kind]
    for key, flag in flags.items():
        argv += [flag, str(kwargs[key])]
    if kwargs.get("curriculum"):
        argv += ["--curriculum", kwargs["curriculum"]]
    for key, value in (kwargs.get("overrides") or {}).items():
        argv += ["--set", f"{key}={json.dumps(value)}"]
    if not progress:
        argv.append("--no-progress")
    return argv


def _launch(launcher: list[str], argv: list[str]) -> None:
    import subprocess

    from ovlt_train.preflight import launcher_command

    rc = subprocess.run([*launcher_command(launcher), "-m", "ovlt_train.cli", *argv]).returncode
    if rc != 0:
        raise UserError(f"`ovlt-train {argv[0]}` failed (exit {rc}); its message is above")


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


def _preflight(card: LoopCard) -> None:
    """What the training steps will need installed, before round 1's data is built."""
    from ovlt_train.preflight import check_launcher, check_training_card

    check_launcher(card.launcher)
    check_training_card(load_card(SFTCard, card.sft_card, card.sft_overrides), "sft_overrides")
    check_training_card(load_card(GRPOCard, card.grpo_card, card.grpo_overrides), "grpo_overrides")


def run_loop(
    *,
    card_path: str | Path,
    overrides: list[str] | None = None,
    dry_run: bool = False,
    progress: bool = True,
) -> Path:
    card = load_loop_card(card_path, overrides)
    steps = plan(card)
    work = Path(card.work_dir)
    identity = {k: v for k, v in card_dict(card).items() if k != "rounds"}
    if dry_run:  # reads the manifest if there is one; writes nothing
        try:
            _preflight(card)
        except UserError as err:  # a plan may be read on a machine that cannot train
            print(f"note: to run this plan here: {err}")
        path = work / MANIFEST_NAME
        recorded = read_manifest_file(path)["steps"] if path.is_file() else {}
        for s in steps:
            rec = recorded.get(s.id, {})
            line = f"{s.id:24s} {rec.get('status', 'pending'):8s} {rec.get('output', '')}"
            source = planned_generator(card, s, recorded)
            print(f"{line}  {source}" if source else line)
        return path
    _preflight(card)
    with exclusive(work):
        manifest = Manifest.open(
            work, name=card.name, card=card_dict(card), card_digest=digest(identity)
        )
        LoopRunner(card, manifest, progress=progress).run(steps)
        from ovlt_train.summary import is_random_model, write_summary

        table = write_summary(
            manifest,
            steps,
            card.benches,
            k=int(card.eval_options.get("n", 1)),
            random=is_random_model(card.base_model),
        )
    print(table)
    return manifest.path


__all__ = ["Step", "plan", "run_loop", "LoopRunner", "UserError"]
