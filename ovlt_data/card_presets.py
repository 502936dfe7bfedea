"""Named presets inside a round card: one file, several recipes, one chosen by name.

    preset: ${OVLT_ROUND_PRESET:-released}
    presets:
      released: {models: {reasoner: {sampling: {...}}}, sources: [...], stages: [...]}
      paper:    {sources: [...], stages: [...]}

The chosen preset is merged over the card's top level: mappings merge key by key (so a preset can
change one model's sampling and keep the engine the loop put there), anything else — lists
included — is replaced whole. The other presets are dropped; `preset` stays in the card, so the
manifest says which recipe built the data.
"""

from __future__ import annotations

from typing import Any

from ovlt_eval.errors import UserError


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def resolve_presets(raw: dict[str, Any], what: str = "card") -> dict[str, Any]:
    """The card with its chosen preset applied and `presets` removed; a card without presets
    comes back unchanged."""
    presets = raw.get("presets")
    name = raw.get("preset")
    if presets is None:
        if name is not None:
            raise UserError(f"{what}: field preset: '{name}' given but the card has no presets")
        return raw
    if not isinstance(presets, dict) or not all(isinstance(v, dict) for v in presets.values()):
        raise UserError(f"{what}: field presets: expected a mapping of name: {{card fields}}")
    if name is None:
        raise UserError(f"{what}: field preset: choose one of {', '.join(presets)}")
    if name not in presets:
        raise UserError(
            f"{what}: field preset: unknown preset '{name}' (card has: {', '.join(presets)})"
        )
    chosen = presets[name]
    for key in ("preset", "presets"):
        if key in chosen:
            raise UserError(f"{what}: field presets.{name}.{key}: a preset cannot name presets")
    base = {k: v for k, v in raw.items() if k != "presets"}
    return deep_merge(base, chosen)
