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

import functools
import hashlib
import io
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
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


INDEX_VERSION = "1"  # bump when what an index entry holds changes
_MAX_DIGEST_BYTES = 512 << 20  # a larger benchmark folder is re-indexed rather than hashed


@functools.lru_cache(maxsize=1)
def _code_digest() -> str:
    """The indexing code and the benchmark loaders: a cached index part built by other code is
    not reused."""
    from importlib.util import find_spec

    # located, not imported: a cache hit must not pay for importing the loaders
    (folder,) = find_spec("ovlt_eval.benchmarks").submodule_search_locations
    h = hashlib.sha256(Path(__file__).read_bytes())
    for path in sorted(Path(folder).glob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()


def _part_key(ref: BenchmarkRef) -> str | None:
    """Content address of one benchmark's index part: code, benchmark, split and the bytes of
    every file under its local `data`. None (no caching) for the Hub or a very large folder."""
    if not ref.data:
        return None
    root = Path(ref.data).expanduser()
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    if not all(p.is_file() for p in files):
        return None  # missing: the loader reports it with its own message
    if sum(p.stat().st_size for p in files) > _MAX_DIGEST_BYTES:
        return None
    h = hashlib.sha256(
        json.dumps(["bench-index", INDEX_VERSION, _code_digest(), ref.name, ref.split]).encode()
    )
    for p in files:
        h.update(f"\0{p.relative_to(root) if root.is_dir() else p.name}\0".encode())
        h.update(p.read_bytes())
    return "bench-index:" + h.hexdigest()


def _part_to_json(part) -> bytes:
    entries, image_hashes, n_items = part
    rows = [
        [
            e.bench,
            e.id,
            e.question,
            sorted(e.shingles),
            sorted(e.answers),
            sorted(e.choices) if e.choices is not None else None,
            e.has_image,
            list(e.size) if e.size else None,
        ]
        for e in entries
    ]
    return json.dumps([rows, image_hashes, n_items]).encode()


def _part_from_json(data: bytes):
    rows, image_hashes, n_items = json.loads(data)
    entries = [
        BenchEntry(
            bench,
            id_,
            q,
            frozenset(sh),
            frozenset(ans),
            frozenset(ch) if ch is not None else None,
            has_image,
            tuple(size) if size else None,
        )
        for bench, id_, q, sh, ans, ch, has_image, size in rows
    ]
    return entries, [tuple(x) for x in image_hashes], n_items


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
        """Index one benchmark; return its item count. With local files and a cache, the
        benchmark's part of the index is stored under the files' content digest, so a rebuild
        neither parses the benchmark nor normalises its questions again."""
        key = _part_key(ref) if self.cache is not None else None
        cached = self.cache.blob_get(key) if key else None
        if cached is not None:
            part = _part_from_json(cached)
        else:
            part = self._benchmark_part(ref)
            if key:
                self.cache.blob_put(key, _part_to_json(part))
        entries, image_hashes, n_items = part
        base = len(self.entries)
        for e in entries:
            idx = len(self.entries)
            self.entries.append(e)
            self.by_text[e.question].append(idx)
            for s in e.shingles:
                self.by_shingle[s].append(idx)
        for local_idx, h in image_hashes:
            self.hashes.append(h)
            self.hash_entry.append(base + local_idx)
        self._np = None
        self._similar = {}
        return n_items

    def _benchmark_part(
        self, ref: BenchmarkRef
    ) -> tuple[list[BenchEntry], list[tuple[int, int]], int]:
        """(entries, [(entry index, image pHash)], item count) of one benchmark."""
        import hashlib

        from ovlt_data.images import perceptual_hash

        try:
            from ovlt_eval.benchmarks import get_benchmark
        except ImportError as e:  # pragma: no cover - the benchmarks package is part of ovlt
            raise UserError(f"decontaminate: ovlt_eval.benchmarks unavailable ({e})") from None
        items = get_benchmark(ref.name).load(ref.split, data=ref.data)
        entries: list[BenchEntry] = []
        todo: dict[str, bytes] = {}
        pending: list[tuple[int, str]] = []
        for item in items:
            question = _raw(item, "question") or item.question
            choices = _raw(item, "choices", "options") or item.choices
            answer = _raw(item, "answer") or item.gold
            imgs = [b for b in (_image_bytes(v) for v in (item.images or ())) if b]
            q = norm_text(str(question))
            meta = (getattr(item, "raw", None) or {}).get("metadata") or {}
            size = (
                (meta.get("img_width"), meta.get("img_height"))
                if isinstance(meta, dict)
                else (None, None)
            )
            idx = len(entries)
            entries.append(
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
            for b in imgs:
                sha = hashlib.sha256(b).hexdigest()
                todo[sha] = b
                pending.append((idx, sha))
        known = self.cache.phash_get(list(todo)) if self.cache else {}
        fresh = {sha: perceptual_hash(b) for sha, b in todo.items() if sha not in known}
        if self.cache:
            self.cache.phash_put(fresh)
        known.update(fresh)
        return entries, [(idx, known[sha]) for idx, sha in pending], len(items)

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

    def image_candidates_many(
        self, hs: list[int], max_distance: int
    ) -> dict[int, list[tuple[int, int]]]:
        """`image_candidates` for a batch of hashes in one vectorised pass."""
        import numpy as np

        if not self.hashes or not hs:
            return {h: [] for h in hs}
        uniq = list(dict.fromkeys(hs))
        x = np.array(uniq, dtype=np.uint64)[:, None] ^ self._hash_array()[None, :]
        if hasattr(np, "bitwise_count"):
            d = np.bitwise_count(x)
        else:
            d = np.unpackbits(x.view(np.uint8).reshape(*x.shape, 8), axis=2).sum(axis=2)
        out: dict[int, list[tuple[int, int]]] = {h: [] for h in uniq}
        for r, c in zip(*np.nonzero(d <= max_distance), strict=True):
            out[uniq[r]].append((self.hash_entry[c], int(d[r, c])))
        return out

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
        self._questions: dict[str, tuple[str, frozenset[str]]] = {}
        self._answer_forms: dict[tuple, frozenset[str]] = {}

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

    def _question(self, question: str) -> tuple[str, frozenset[str]]:
        # templated sources repeat a few questions thousands of times: normalise each once
        hit = self._questions.get(question)
        if hit is None:
            q = norm_text(question)
            hit = (q, shingles(q))
            if len(self._questions) < 100_000:
                self._questions[question] = hit
        return hit

    def _answers(self, answer: str, choices) -> frozenset[str]:
        key = (answer, tuple(choices) if choices else None)
        hit = self._answer_forms.get(key)
        if hit is None:
            hit = answer_forms(answer, choices)
            if len(self._answer_forms) < 100_000:
                self._answer_forms[key] = hit
        return hit

    def match(
        self, row: Row, hashes: dict[str, int], candidates: dict[int, list] | None = None
    ) -> dict[str, Any] | None:
        p, ex, idx = self.params, row.example, self.index
        q, sh = self._question(ex.question)
        answers = self._answers(ex.answer, ex.choices)
        for img in ex.images:
            if not idx.hashes:
                break
            h = hashes[img.sha256]
            found = (
                candidates[h]
                if candidates is not None and h in candidates
                else idx.image_candidates(h, p.image_max_distance)
            )
            for e_i, dist in found:
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
        candidates = self.index.image_candidates_many(
            list(hashes.values()), self.params.image_max_distance
        )
        out = []
        for r in rows:
            m = self.match(r, hashes, candidates)
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
