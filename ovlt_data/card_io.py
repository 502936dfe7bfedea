"""Reading any card (data round, training, loop): one loader, one error format.

Every card goes through `read_card`: the file must exist, be small, be YAML (safe_load only)
and hold a mapping; `${VAR}` / `${VAR:-default}` in strings are expanded from the environment;
`--set key=value` overrides apply on top. A pydantic error becomes one line naming the field
(`format_validation_error`), so a mistake in any card reads the same.

Lives in ovlt_data because ovlt_train imports ovlt_data (never the reverse).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ovlt_eval.errors import UserError
from ovlt_eval.redact import remember_template

MAX_CARD_BYTES = 1 << 20  # a card is a recipe; a larger file is a wrong path, not a card
# YAML aliases share one node, but everything after the parser (env expansion, overrides,
# pydantic) walks the card as a tree: a 10-line alias bomb is billions of nodes there. A card
# is refused when its tree, aliases expanded, would exceed this many nodes.
MAX_CARD_NODES = 200_000
# Data a card may name relative to the installed packages (e.g. ovlt_eval/demo_data/...), so a
# card copied to another folder still finds the bundled samples.
BUNDLED_ROOT = Path(__file__).resolve().parent.parent


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """A card file as a mapping; a missing, huge or malformed file is one UserError line."""
    import yaml

    from ovlt_cards import find_card

    p = find_card(path)  # `cards/...` names a bundled card unless that file exists here
    if not p.is_file():
        raise UserError(f"card not found: {p}")
    if p.stat().st_size > MAX_CARD_BYTES:
        raise UserError(f"card {p}: larger than {MAX_CARD_BYTES >> 10} KiB; is this a card?")
    try:
        raw = _load_bounded(p.read_text(encoding="utf-8"), p)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        why = str(getattr(e, "problem", None) or e).strip().splitlines()[0]  # one line, always
        raise UserError(f"card {p}: invalid YAML{where}: {why}") from None
    except UnicodeDecodeError:
        raise UserError(f"card {p}: not UTF-8 text") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UserError(f"card {p}: expected a mapping of field: value at the top level")
    return raw


def _load_bounded(text: str, p: Path | str) -> Any:
    """`yaml.safe_load`, refusing before construction a card whose expanded tree is too big
    (an alias bomb), recursive (`&a [*a]`) or nested too deep for Python's recursion."""
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            size = _tree_size(node, {}, set(), p)
        except RecursionError:
            raise UserError(f"card {p}: nested too deeply; is this a card?") from None
        if size > MAX_CARD_NODES:
            raise UserError(
                f"card {p}: YAML aliases expand it past {MAX_CARD_NODES} values; "
                "is this a card? (write the repeated parts out, or use fewer aliases)"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _tree_size(node, sizes: dict[int, int], open_: set[int], p: Path | str) -> int:
    """Nodes in the tree an alias-sharing YAML graph expands to; each node is counted once
    (memoised by identity), so this is linear in the file, not in the expansion."""
    import yaml

    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_:
        raise UserError(f"card {p}: a YAML alias refers to its own anchor (a recursive structure)")
    open_.add(key)
    n = 1
    if isinstance(node, yaml.SequenceNode):
        n += sum(_tree_size(c, sizes, open_, p) for c in node.value)
    elif isinstance(node, yaml.MappingNode):
        n += sum(
            _tree_size(k, sizes, open_, p) + _tree_size(v, sizes, open_, p) for k, v in node.value
        )
    open_.discard(key)
    sizes[key] = n = min(n, MAX_CARD_NODES + 1)  # capped: sums stay small numbers
    return n


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(value: Any, where: str = "") -> Any:
    """`${VAR}` / `${VAR:-default}` in every string; an unset VAR without default is an error.

    A string that took a value from the environment is remembered with its template
    (`ovlt_eval.redact`): files record the template, never the value (it may be a key)."""
    if isinstance(value, str):
        from_env = False

        def sub(m: re.Match) -> str:
            nonlocal from_env
            name, default = m.group(1), m.group(2)
            got = os.environ.get(name)
            if got is None or got == "":
                if default is None:
                    raise UserError(f"card field {where}: environment variable {name} is not set")
                return default
            from_env = True
            return got

        out = _ENV.sub(sub, value)
        if from_env:
            remember_template(out, value)
        return out
    if isinstance(value, dict):
        return {k: expand_env(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _parse_value(text: str, key: str) -> Any:
    import yaml

    try:  # bounded as a card file is: a value may hold an alias bomb too
        return _load_bounded(text, f"--set {key}")
    except yaml.YAMLError:
        return text


MAX_KEY_PARTS = 64  # a dotted --set key deeper than any card (and than Python's recursion)


def apply_overrides(raw: dict[str, Any], overrides: list[str] | dict[str, Any]) -> dict[str, Any]:
    """`a.b=1` style overrides onto a nested dict (values parsed as YAML scalars); integer
    parts index lists (`stages.2.mode=image`). The input is not modified."""
    if isinstance(overrides, dict):
        items = list(overrides.items())
    else:
        items = []
        for item in overrides:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise UserError(f"--set expects key=value, got {item!r}")
            items.append((key.strip(), _parse_value(value, key.strip())))
    out = dict(raw)
    for key, value in items:
        if key.count(".") >= MAX_KEY_PARTS:
            raise UserError(f"--set {key[:60]}...: more than {MAX_KEY_PARTS} dotted parts")
        _set_path(out, key.split("."), value, key)
    return out


def _copy(child: Any) -> Any:
    return (
        dict(child) if isinstance(child, dict) else list(child) if isinstance(child, list) else {}
    )


def _set_path(node: Any, parts: list[str], value: Any, key: str) -> None:
    head, rest = parts[0], parts[1:]
    if isinstance(node, list):
        try:
            index = int(head)
            node[index]  # noqa: B018 — bounds check
        except (ValueError, IndexError):
            raise UserError(
                f"--set {key}: '{head}' is not an index of a list of {len(node)}"
            ) from None
        slot: Any = index
    else:
        slot = head
    if not rest:
        node[slot] = value
        return
    child = _copy(node[slot] if isinstance(node, list) else node.get(head))
    node[slot] = child
    _set_path(child, rest, value, key)


def read_card(
    path: str | os.PathLike | None,
    overrides: list[str] | dict[str, Any] | None = None,
    *,
    expand: bool = True,
) -> dict[str, Any]:
    """A card's raw mapping: file (or {} without one), environment expanded, overrides on top."""
    raw = read_yaml(path) if path else {}
    if expand:
        raw = expand_env(raw)
    return apply_overrides(raw, overrides or [])


def field_path(loc: tuple | list) -> str:
    """('sources', 0, 'kind') -> 'sources[0].kind'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def format_validation_error(err: ValidationError, what: str, prefix: str = "") -> str:
    """One line naming the field: '<what>: field <prefix><loc>: <message> (+N more)'."""
    first = err.errors()[0]
    n = err.error_count()
    more = f" (+{n - 1} more)" if n > 1 else ""
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    loc = field_path(tuple(first["loc"]))
    name = f"{prefix}.{loc}" if prefix and loc else (prefix or loc or "(card)")
    return f"{what}: field {name}: {msg}{more}"


def resolve_card_path(value: str | os.PathLike, card_dir: str | os.PathLike | None) -> Path:
    """A path written in a card: absolute as is; relative against the card's own folder, or,
    when nothing is there, the packages' bundled data. Never the current directory, so a card
    means the same wherever it is run from (a dict card has no folder: bundled data only)."""
    p = Path(value).expanduser()
    if p.is_absolute():
        return p
    if card_dir is not None:
        local = Path(card_dir) / p
        if local.exists() or not (BUNDLED_ROOT / p).exists():
            return local
    return BUNDLED_ROOT / p
