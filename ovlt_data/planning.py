"""Planning a build: the card, its stages and sources checked, the target folder chosen.

Nothing here calls a model or writes a row; `plan()` is what `ovlt-data build --dry-run` prints.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ovlt_data.card import Card, load_card
from ovlt_data.paths import inside
from ovlt_data.sources import SourceContext, get_source_kind
from ovlt_data.stages import BuildContext, Stage, get_stage_kind
from ovlt_eval.errors import UserError


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            i, n = (int(x) for x in text.split("/"))
        except ValueError:
            raise UserError(f"--shard {text!r}: expected I/N, e.g. 0/4") from None
        if n < 1 or not 0 <= i < n:
            raise UserError(f"--shard {text!r}: need 0 <= I < N")
        return cls(i, n)

    def owns(self, row_id: str) -> bool:
        h = int.from_bytes(hashlib.sha1(row_id.encode()).digest()[:8], "big")
        return h % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def card_dir(card_arg, given: str | os.PathLike | None = None) -> Path | None:
    """The folder a card's relative paths resolve against: the card file's own, or `given`
    for a dict card. None: a dict card without one (only bundled data resolves)."""
    if given is not None:
        return Path(given).resolve()
    if isinstance(card_arg, (str, os.PathLike)):
        from ovlt_cards import find_card

        return find_card(card_arg).resolve().parent
    return None


def version_dir(out: str | os.PathLike, card: Card, shard: Shard | None = None) -> Path:
    name = card.version if shard is None else f"{card.version}-shard-{shard.index}-of-{shard.count}"
    return inside(out, card.name, name, what="card name/version")


def make_stages(card: Card, ctx: BuildContext) -> list[Stage]:
    stages = []
    for i, spec in enumerate(card.stages):
        kind = get_stage_kind(spec.stage, where=f"card: field stages[{i}].stage")
        params = kind.validate_params(spec.params, where=f"card: field stages[{i}]")
        stages.append(kind.factory(params, ctx))
    return stages


def check_card(card: Card, stages: list[Stage]) -> None:
    """What pydantic cannot see: models named, and each stage's input made by an earlier one."""
    pools = {s.pool for s in card.sources}
    if "grpo" in pools and not any(st.splits_grpo for st in stages):
        raise UserError(
            "card: field stages: a grpo source needs a `difficulty` stage (medium/hard split)"
        )
    for st in stages:
        role = st.model_role()
        if role and role != "reuse" and role not in card.models:
            raise UserError(f"card: field stages: stage {st.name} names unknown model '{role}'")
    for i, st in enumerate(stages):
        need = st.requires()
        if need and not any(p.name == need and set(st.pools) <= set(p.pools) for p in stages[:i]):
            raise UserError(
                f"card: field stages[{i}]: stage {st.name} needs a `{need}` stage before it"
            )


def check_existing(final: Path, card: Card, limit: int | None, force: bool) -> None:
    """A version folder is never silently replaced by one built from another card."""
    if not final.exists() or force:
        return
    from ovlt_data.artifact import read_manifest  # the one manifest reader (shape-checked)

    old = read_manifest(final) if (final / "manifest.json").exists() else {}
    if old.get("card_sha256") != card.digest() or old.get("limit") != limit:
        raise UserError(
            f"{final} exists and was built from another card or --limit; "
            "use --force or bump `version`"
        )


def source_plan(card: Card, ctx: SourceContext, limit: int | None) -> list[dict[str, Any]]:
    """Rows per source without opening the Hub (dry run)."""
    out = []
    for spec in card.sources:
        kind = get_source_kind(spec.kind)
        opts = kind.validate_options(spec.options, where=f"card: field sources.{spec.name}")
        cap = (
            min(x for x in (spec.limit, limit) if x is not None) if (spec.limit or limit) else None
        )
        n: int | str | None = None  # rows before drops
        if spec.kind == "synthetic":
            n = opts.n
        elif spec.kind == "hub":
            from ovlt_data.sources.hub import resolve

            n = resolve(opts).rows  # the catalogue's size; the Hub is not opened for a plan
        elif spec.kind in ("local", "tabmwp_local"):
            try:
                n = sum(1 for _ in kind.open(spec.name, opts, ctx))
            except UserError as e:
                n = f"unavailable ({e})"
        if isinstance(n, int) and cap is not None:
            n = min(n, cap)
        if isinstance(n, int) and spec.kind == "hub":
            n = f"~{n}"  # catalogue size, not counted
        elif n is None:
            n = f"<= {cap}" if cap else "all (Hub, size unknown offline)"
        fp = kind.fingerprint(spec.name, opts, ctx)
        out.append(
            {
                "name": spec.name,
                "kind": spec.kind,
                "pool": spec.pool,
                "rows": n,
                "origin": fp.get("hub_id") or fp.get("path") or spec.kind,
            }
        )
    return out


def plan(
    card_arg,
    *,
    limit: int | None = None,
    overrides: list[str] | None = None,
    base_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """What a build would do: rows per source, model generations per stage (an upper bound)."""
    card = load_card(card_arg, overrides)
    ctx = SourceContext(card.max_image_pixels, card_dir(card_arg, base_dir))
    stages = make_stages(card, BuildContext(card, None, {}))
    check_card(card, stages)
    sources = source_plan(card, ctx, limit)
    rows_by_pool: dict[str, int | None] = {"sft": 0, "grpo": 0}
    for s in sources:
        n = s["rows"]
        if isinstance(n, str) and n[:1] in "~<":
            n = int(n.lstrip("~<= "))
        if isinstance(n, int) and rows_by_pool[s["pool"]] is not None:
            rows_by_pool[s["pool"]] += n
        else:
            rows_by_pool[s["pool"]] = None  # unknown: the plan says so rather than guess
    stage_plan = []
    total = 0
    for st in stages:
        known = [rows_by_pool[p] for p in st.pools]
        calls = st.calls_per_row() * sum(known) if None not in known else None
        total = None if total is None or calls is None else total + calls
        role = st.model_role()
        model = card.models[role].model if role and role in card.models else None
        stage_plan.append(
            {
                "stage": st.name,
                "pools": list(st.pools),
                "model": model,
                "samples_per_row": st.calls_per_row(),
                "max_generations": calls,
                "benchmarks": [
                    f"{b.name}/{b.split} ({b.data or 'Hub'})"
                    for b in getattr(st.params, "benchmarks", [])
                ],
            }
        )
    return {
        "card": card.name,
        "version": card.version,
        "round": card.round,
        "card_sha256": card.digest(),
        "sources": sources,
        "stages": stage_plan,
        "max_generations": total,
        "note": "generations are an upper bound: rows dropped upstream and cached calls cost nothing",
    }
