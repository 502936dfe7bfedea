"""Where runs meet the engines and profiles (kept in one place so contract changes stay here)."""

from __future__ import annotations

from typing import Any


def make_engine(name: str, **options: Any):
    from ovlt_eval.engines import get_engine

    return get_engine(name, **{k: v for k, v in options.items() if v is not None})


def build_messages(profile, item, benchmark=None) -> list[dict[str, Any]]:
    return list(profile.messages_for(item, benchmark))
