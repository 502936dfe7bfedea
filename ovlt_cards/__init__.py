"""The default cards (YAML recipes), shipped inside the package so they resolve the same from a
checkout, from any folder and from a wheel.

A card path written `cards/...` (on the command line, in a card, in a loop's launcher) that does
not exist where it is read from means the bundled one here: `cards/loop.yaml` is
`ovlt_cards/loop.yaml`. A user's own file at that path always wins. `ovlt-train cards` lists them.
"""

from __future__ import annotations

from pathlib import Path

CARDS_DIR = Path(__file__).resolve().parent
PREFIX = "cards"  # how commands, cards and the README name a bundled card


def bundled(path: str | Path) -> Path | None:
    """The bundled card a relative `cards/...` path names, or None."""
    p = Path(path)
    if p.is_absolute() or len(p.parts) < 2 or p.parts[0] != PREFIX:
        return None
    candidate = CARDS_DIR.joinpath(*p.parts[1:])
    return candidate if candidate.is_file() else None


def find_card(path: str | Path) -> Path:
    """`path` itself when it exists (a user's card wins), else the bundled card it names, else
    `path` unchanged (the caller says it is missing)."""
    p = Path(path).expanduser()
    if p.exists():
        return p
    return bundled(p) or p


def list_cards() -> list[Path]:
    return sorted(q for q in CARDS_DIR.rglob("*") if q.suffix in (".yaml", ".json") and q.is_file())
