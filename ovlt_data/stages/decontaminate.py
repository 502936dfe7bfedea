"""`decontaminate`: drop training rows that are benchmark items (MathVista, MathVerse, MathVision).

Many sources are templated (TabMWP, CLEVR, FigureQA): the same question text recurs over
different images with different answers, so question text alone would drop innocent rows.
Rules, in order:
- the benchmark item's image is at hand: perceptual-hash distance <= `image_max_distance`, confirmed
  by the text (word 3-gram Jaccard >= `image_text_confirm`) or by the answer;
- it is not: normalised question text (exact, or 3-gram Jaccard >= `text_threshold`) AND the
  answer AND, where both sides list options, the same options. Never the question text alone.
Every drop records the benchmark item it matched.
"""

from __future__ import annotations

import io
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ovlt_data.schema import Row
from ovlt_data.stages import Stage, StageParams, register_stage
from ovlt_eval.errors import UserError

LETTERS = "abcdefghijklmnopqrstuvwxyz"
_PLACEHOLDER = re.compile(r"<image\d*>", re.I)
_NONWORD = re.compile(r"[\W_]+", re.UNICODE)


def norm_text(s: str) -> str:
    s = _PLACEHOLDER.sub(" ", s or "").lower()
    return " ".join(_NONWORD.sub(" ", s).split())


def shingles(norm: str, n: int = 3) -> frozenset[str]:
    w = norm.split()
    if len(w) < n:
        return frozenset([norm]) if norm else frozenset()
    return frozenset(" ".join(w[i : i + n]) for i in range(len(w) - n + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def _num(s: str) -> str | None:
    try:
        v = float(s.replace(",", "").strip())
    except ValueError:
        return None
    return f"{v:.6g}"


def answer_forms(answer: str, choices) -> frozenset[str]:
    """Every spelling of an answer: text, number, option letter <-> option text."""
    a = norm_text(str(answer))
    forms = {a}
    if (n := _num(str(answer))) is not None:
        forms.add("#" + n)
    if choices:
        normed = [norm_text(c) for c in choices]
        if len(a) == 1 and a in LETTERS and LETTERS.index(a) < len(choices):
            forms.add(normed[LETTERS.index(a)])
            if (n := _num(choices[LETTERS.index(a)])) is not None:
                forms.add("#" + n)
        if a in normed:
            forms.add(LETTERS[normed.index(a)])
    forms.discard("")
    return frozenset(forms)


@dataclass(frozen=True)
class BenchEntry:
    bench: str
    id: str
    question: str  # normalised
    shingles: frozenset[str]
    answers: frozenset[str]
    choices: frozenset[str] | None
    has_image: bool
    size: tuple[int, int] | None = None  # (w, h) from the benchmark's metadata, when it says


class BenchmarkRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str  # mathvista | mathverse | mathvision (ovlt_eval.benchmarks)
    split: str = "testmini"
    data: str | None = None  # local official files; None = the Hub


class DecontaminateParams(StageParams):
    benchmarks: list[BenchmarkRef] = Field(min_length=1)
    image_max_distance: int = Field(6, ge=0, le=32)  # of 64 pHash bits
    image_text_confirm: float = Field(0.5, ge=0, le=1)
    text_threshold: float = Field(0.8, gt=0, le=1)


def _raw(item, *names):
    raw = getattr(item, "raw", None) or {}
    for n in names:
        if raw.get(n) not in (None, ""):
            return raw[n]
    return None


def _image_bytes(value) -> bytes | None:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        try:
            with open(value, "rb") as fh:
                return fh.read()
        except OSError:
            return None
    if hasattr(value, "save"):  # PIL
        buf = io.BytesIO()
        value.save(buf, format="PNG")
        return buf.getvalue()
    return None


class BenchIndex:
    def __init__(self, cache=None):
        self.entries: list[BenchEntry] = []
        self.by_text: dict[str, list[int]] = defaultdict(list)
        self.by_shingle: dict[str, list[int]] = defaultdict(list)
        self.hashes: list[int] = []
        self.hash_entry: list[int] = []
        self.cache = cache
        self._np = None
        self._similar: dict = {}

    def add_benchmark(self, ref: BenchmarkRef) -> int:
        import hashlib

        from ovlt_data.images import perceptual_hash

        try:
            from ovlt_eval.benchmarks import get_benchmark
        except ImportError as e:  # pragma: no cover - the benchmarks package is part of ovlt
            raise UserError(f"decontaminate: ovlt_eval.benchmarks unavailable ({e})") from None
        items = get_benchmark(ref.name).load(ref.split, data=ref.data)
        todo: dict[str, bytes] = {}
        pending: list[tuple[int, str]] = []
        for item in items:
            question = _raw(item, "question") or item.question
            choices = _raw(item, "choices", "options") or item.choices
            answer = _raw(item, "answer") or item.gold
            imgs = [b for b in (_image_bytes(v) for v in (item.images or ())) if b]
            q = norm_text(str(question))
            idx = len(self.entries)
            meta = (getattr(item, "raw", None) or {}).get("metadata") or {}
            size = (
                (meta.get("img_width"), meta.get("img_height"))
                if isinstance(meta, dict)
                else (None, None)
            )
            self.entries.append(
                BenchEntry(
                    ref.name,
                    str(item.id),
                    q,
                    shingles(q),
                    answer_forms(str(answer), choices),
                    frozenset(norm_text(c) for c in choices) if choices else None,
                    bool(imgs),
                    size if None not in size else None,
                )
            )
            self.by_text[q].append(idx)
            for s in self.entries[-1].shingles:
                self.by_shingle[s].append(idx)
            for b in imgs:
                sha = hashlib.sha256(b).hexdigest()
                todo[sha] = b
                pending.append((idx, sha))
        known = self.cache.phash_get(list(todo)) if self.cache else {}
        fresh = {sha: perceptual_hash(b) for sha, b in todo.items() if sha not in known}
        if self.cache:
            self.cache.phash_put(fresh)
        known.update(fresh)
        for idx, sha in pending:
            self.hashes.append(known[sha])
            self.hash_entry.append(idx)
        self._np = None
        self._similar = {}
        return len(items)

    def _hash_array(self):
        import numpy as np

        if self._np is None:
            self._np = np.array(self.hashes, dtype=np.uint64)
        return self._np

    def image_candidates(self, h: int, max_distance: int) -> list[tuple[int, int]]:
        import numpy as np

        if not self.hashes:
            return []
        x = self._hash_array() ^ np.uint64(h)
        if hasattr(np, "bitwise_count"):  # numpy >= 2
            d = np.bitwise_count(x)
        else:
            d = np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
        return [(self.hash_entry[i], int(d[i])) for i in np.nonzero(d <= max_distance)[0]]

    def similar_texts(
        self, q: str, sh: frozenset[str], threshold: float
    ) -> list[tuple[int, float]]:
        """(entry, similarity >= threshold), by shared-shingle counts; memoised per question,
        since templated sources repeat the same few questions thousands of times."""
        key = (q, threshold)
        hit = self._similar.get(key)
        if hit is not None:
            return hit
        shared: dict[int, int] = defaultdict(int)
        for s in sh:
            for e_i in self.by_shingle.get(s, ()):
                shared[e_i] += 1
        out = {e_i: 1.0 for e_i in self.by_text.get(q, ())}
        for e_i, n in shared.items():
            if e_i not in out:
                sim = n / (len(sh) + len(self.entries[e_i].shingles) - n)
                if sim >= threshold:
                    out[e_i] = sim
        hit = sorted(out.items())
        if len(self._similar) < 100_000:
            self._similar[key] = hit
        return hit


class Decontaminate(Stage):
    name = "decontaminate"
    default_pools = ("sft", "grpo")

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.index = BenchIndex(getattr(ctx, "cache", None))
        self.loaded: dict[str, int] = {}
        self.matches: list[dict[str, Any]] = []

    def prepare(self) -> None:
        from pathlib import Path

        for ref in self.params.benchmarks:
            data = ref.data or None  # "" (an unset ${VAR:-}) means the Hub
            if data and not Path(data).expanduser().is_absolute() and self.ctx.card_dir is not None:
                data = str(Path(self.ctx.card_dir) / data)
            self.loaded[f"{ref.name}/{ref.split}"] = self.index.add_benchmark(
                ref.model_copy(update={"data": data})
            )

    def _row_hashes(self, rows: list[Row]) -> dict[str, int]:
        from ovlt_data.images import perceptual_hash

        shas = {img.sha256: img for r in rows for img in r.example.images}
        cache = self.ctx.cache
        known = cache.phash_get(list(shas)) if cache else {}
        fresh = {sha: perceptual_hash(img) for sha, img in shas.items() if sha not in known}
        if cache:
            cache.phash_put(fresh)
        return {**known, **fresh}

    def match(self, row: Row, hashes: dict[str, int]) -> dict[str, Any] | None:
        p, ex, idx = self.params, row.example, self.index
        q = norm_text(ex.question)
        sh = shingles(q)
        answers = answer_forms(ex.answer, ex.choices)
        for img in ex.images:
            if not idx.hashes:
                break
            for e_i, dist in idx.image_candidates(hashes[img.sha256], p.image_max_distance):
                e = idx.entries[e_i]
                sim = 1.0 if q == e.question else jaccard(sh, e.shingles)
                if sim >= p.image_text_confirm or answers & e.answers:
                    how = "image+text" if sim >= p.image_text_confirm else "image+answer"
                    return {
                        "benchmark": e.bench,
                        "item": e.id,
                        "how": how,
                        "image_distance": dist,
                        "text_similarity": round(sim, 3),
                    }
        found = []
        for e_i, sim in idx.similar_texts(q, sh, p.text_threshold):
            e = idx.entries[e_i]
            if e.has_image:
                continue  # its image is at hand and did not match: a templated look-alike
            if not (answers & e.answers):
                continue
            if (
                e.choices is not None
                and ex.choices
                and e.choices != frozenset(norm_text(c) for c in ex.choices)
            ):
                continue
            found.append((-sim, e_i))
        if found:
            found.sort()
            e = idx.entries[found[0][1]]
            m = {
                "benchmark": e.bench,
                "item": e.id,
                "how": "text+answer",
                "text_similarity": round(-found[0][0], 3),
            }
            if len(found) > 1:  # benchmarks repeat templated questions too: name every candidate
                m["also"] = [f"{idx.entries[i].bench}:{idx.entries[i].id}" for _, i in found[1:]]
            if e.size and ex.images:  # evidence for the report, not part of the rule
                m["same_image_size"] = (ex.images[0].width, ex.images[0].height) == tuple(e.size)
            return m
        return None

    def apply(self, rows: list[Row]) -> list[Row]:
        hashes = self._row_hashes(rows) if self.index.hashes else {}
        out = []
        for r in rows:
            m = self.match(r, hashes)
            if m is None:
                out.append(r)
            else:
                self.matches.append({"row": r.id, **m})
                out.append(
                    self.drop(r, f"contaminated:{m['benchmark']}", json.dumps(m, sort_keys=True))
                )
        return out

    def describe(self):
        return {**super().describe(), "benchmark_items": self.loaded, "matches": self.matches}


register_stage(
    Decontaminate,
    DecontaminateParams,
    "drop rows matching MathVista / MathVerse / MathVision items",
)
