"""`ovlt-data inspect DIR` (what a version holds and how it was made) and `diff A B`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ovlt_data.artifact import check_data, iter_config, read_manifest
from ovlt_data.schema import CONFIGS


def _table(header, rows) -> str:
    cols = [header] + [[str(x) for x in r] for r in rows]
    widths = [max(len(r[i]) for r in cols) for i in range(len(header))]
    fmt = lambda r: "  ".join(s.ljust(w) for s, w in zip(r, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in cols[1:]])


def inspect_version(version_dir) -> str:
    m = read_manifest(Path(version_dir))
    check_data(Path(version_dir), m)  # a truncated file is reported, not summarised
    s = m["stats"]
    out = [
        f"{m['name']} {m['version']} (round {m['round']})  {version_dir}",
        f"fingerprint {m['fingerprint']}",
        f"card sha256 {m['card_sha256'][:16]}  code {m['code_version']}  built in {m.get('build_seconds')} s"
        + (f"  shard {m['shard']}" if m.get("shard") else "")
        + (f"  limit {m['limit']}" if m.get("limit") else ""),
        "",
        _table(["config", "rows"], [[c, s["counts"].get(c, 0)] for c in CONFIGS]),
        "",
        _table(
            ["source", *CONFIGS, "pass rate"],
            [
                [src, *[c.get(k, 0) for k in CONFIGS], s["pass_rate_by_source"].get(src, "-")]
                for src, c in s["by_source"].items()
            ],
        ),
        "",
        _table(
            ["stage", "pools", "in", "out", "dropped"],
            [
                [
                    st["stage"],
                    ",".join(st.get("pools", [])),
                    st["in"],
                    st["out"],
                    ", ".join(f"{k}={v}" for k, v in st["dropped"].items()) or "-",
                ]
                for st in m["stages"]
            ],
        ),
        "",
    ]
    if m["models"]:
        out += [
            _table(
                ["role", "engine", "model", "revision", "T", "top_p", "max_tokens"],
                [
                    [
                        r,
                        d["engine"],
                        d["model"],
                        d["revision"],
                        d["sampling"]["temperature"],
                        d["sampling"]["top_p"],
                        d["sampling"]["max_tokens"],
                    ]
                    for r, d in m["models"].items()
                ],
            ),
            "",
        ]
    srcs = [
        [
            n,
            f.get("kind"),
            f.get("hub_id") or f.get("path") or f"n={f.get('n')} seed={f.get('seed')}",
        ]
        for n, f in m["sources"].items()
    ]
    out += [_table(["source", "kind", "origin"], srcs), ""]
    d = m.get("decontamination", {})
    out.append(
        f"decontamination: {d.get('benchmarks') or 'none'}; {len(d.get('matches', []))} rows dropped"
    )
    for x in d.get("matches", [])[:10]:
        out.append(f"  {x['row']} ~ {x['benchmark']}:{x['item']} ({x['how']})")
    c = m.get("cache", {})
    out.append(
        f"cache: {c.get('hits', 0)} hits, {c.get('misses', 0)} misses, engine requests {c.get('engine_requests', {})}"
    )
    out.append(f"SFT trace words: {s.get('sft_words')}")
    return "\n".join(out)


def _ids(version_dir, config) -> dict[str, str]:
    out = {}
    for r in iter_config(version_dir, config, ["id", "response", "answer", "reject_reason"]):
        h = hashlib.sha256(
            f"{r['response']}|{r['answer']}|{r['reject_reason']}".encode()
        ).hexdigest()[:12]
        out[r["id"]] = h
    return out


def changed_fields(a: Any, b: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted field, A's value, B's value) for every leaf that differs; lists compare by index."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in list(dict.fromkeys([*a, *b])):
            sub = f"{path}.{k}" if path else str(k)
            out += changed_fields(a.get(k, _ABSENT), b.get(k, _ABSENT), sub)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        pairs = enumerate(zip(a, b, strict=True))
        return [x for i, (p, q) in pairs for x in changed_fields(p, q, f"{path}[{i}]")]
    return [] if a == b else [(path, a, b)]


_ABSENT = "(absent)"


def _short(v: Any, width: int = 60) -> str:
    text = json.dumps(v, default=str) if v is not _ABSENT else _ABSENT
    return text if len(text) <= width else text[: width - 3] + "..."


def diff_versions(a, b, show: int = 5) -> str:
    """Only what changed between two versions: card fields, code, models, rows, drop reasons."""
    ma, mb = read_manifest(Path(a)), read_manifest(Path(b))
    check_data(Path(a), ma)  # missing data files are named, never listed as removed rows
    check_data(Path(b), mb)
    out = [f"A: {ma['name']} {ma['version']}  {a}", f"B: {mb['name']} {mb['version']}  {b}"]
    if ma["fingerprint"] == mb["fingerprint"]:
        out.append("identical data (same fingerprint)")
    if ma["card_sha256"] != mb["card_sha256"]:
        fields = changed_fields(ma.get("card", {}), mb.get("card", {}))
        out.append(f"card fields changed ({len(fields)}):")
        out += [f"  {f}: {_short(x)} -> {_short(y)}" for f, x, y in fields]
    if ma.get("code_version") != mb.get("code_version"):
        out.append(f"code: {ma.get('code_version')} -> {mb.get('code_version')}")
    for role in sorted(set(ma["models"]) | set(mb["models"])):
        x, y = ma["models"].get(role), mb["models"].get(role)
        if x != y:
            out.append(
                f"model {role}: {x and (x['model'], x['revision'])} -> {y and (y['model'], y['revision'])}"
                + ("" if not (x and y) or x["sampling"] == y["sampling"] else " (sampling changed)")
            )
    where_a = {i: c for c in CONFIGS for i in _ids(a, c)}
    where_b = {i: c for c in CONFIGS for i in _ids(b, c)}
    rows = []
    for c in CONFIGS:
        ia, ib = _ids(a, c), _ids(b, c)
        added, removed = sorted(set(ib) - set(ia)), sorted(set(ia) - set(ib))
        changed = sorted(i for i in set(ia) & set(ib) if ia[i] != ib[i])
        if not (added or removed or changed):
            continue  # only what changed
        rows.append(
            [c, len(ia), len(ib), f"{len(ib) - len(ia):+d}", len(added), len(removed), len(changed)]
        )
        for label, ids in (("added", added), ("removed", removed), ("changed", changed)):
            if ids and show:
                note = [
                    f"{i}"
                    + (f" (from {where_a[i]})" if label == "added" and i in where_a else "")
                    + (f" (to {where_b[i]})" if label == "removed" and i in where_b else "")
                    for i in ids[:show]
                ]
                rows.append(
                    [
                        f"  {label}",
                        "",
                        "",
                        "",
                        "",
                        "",
                        ", ".join(note) + (" ..." if len(ids) > show else ""),
                    ]
                )
    if rows:
        out += ["", _table(["config", "A", "B", "delta", "added", "removed", "changed"], rows)]
    else:
        out.append("rows: no row added, removed or changed")
    sa = {s["stage"]: s for s in ma["stages"]}
    sb = {s["stage"]: s for s in mb["stages"]}
    drows = []
    for st in list(dict.fromkeys([*sa, *sb])):
        x, y = sa.get(st, {"dropped": {}}), sb.get(st, {"dropped": {}})
        for reason in sorted(set(x["dropped"]) | set(y["dropped"])):
            va, vb = x["dropped"].get(reason, 0), y["dropped"].get(reason, 0)
            if va != vb:
                drows.append([st, reason, va, vb])
    if drows:
        out += ["", _table(["stage", "drop reason", "A", "B"], drows)]
    return "\n".join(out)
