"""`decontaminate`: drop training rows that are benchmark items (MathVista, MathVerse, MathVision).

Many sources are templated (TabMWP, CLEVR, FigureQA): the same question text recurs over
different images with different answers, so question text alone would drop innocent rows. A
bare option letter or yes/no agrees by chance too often to count as evidence on its own.

Evidence about a (training row, benchmark item) pair:
- image: `ovlt_data.image_match` distance (0 = the same picture; survives resize, JPEG and
  crops of a few percent), known when both sides have an image;
- text: normalised question equality, or word 3-gram Jaccard;
- answer: the answers agree in some spelling (text, number, option letter <-> option text);
  *informative* unless the only agreeing spellings are a bare letter or yes/no/true/false.

A row is dropped as `contaminated:<benchmark>` when, for some item, one of these holds:
- `image+text`: image distance <= `image_max_distance` and text similarity >= `image_text_confirm`;
- `image+answer`: image distance <= `image_max_distance` and an informative answer agreement;
- `text+answer`: text similarity >= `text_threshold`, informative answer agreement and, where
  both list options, the same options. This applies whether or not the item's image is at hand;
- `text+weak_answer`: the same normalised question (spaces aside), a weak (letter / yes-no) agreement, the same
  options where both list them, and no image to compare; where both images are at hand and
  differ, the pair is a templated look-alike (FigureQA's "Is X the high median?") and is kept.
The drop names the closest item: most kinds of evidence, then the smallest image distance,
then the highest text similarity; equally close items are listed under `also`.

Same image, different question (`same_image`): a row whose image is a benchmark image
(distance <= `same_image_max_distance`, stricter than the confirmed limit because nothing else
agrees) but whose question and answer do not match is still a leak of that item's picture,
and round-1 captioning teaches its contents. Decision: dropped under its own reason
`benchmark_image:<benchmark>` (`same_image: keep` keeps them and lists them in the manifest).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from ovlt_data.bench_index import (
    BenchIndex,
    BenchmarkRef,
    answer_forms,
    compact,
    informative,
    jaccard,
    norm_text,
    shingles,
)
from ovlt_data.card_io import resolve_card_path
from ovlt_data.schema import Row
from ovlt_data.stages import Stage, StageParams, register_stage


class DecontaminateParams(StageParams):
    benchmarks: list[BenchmarkRef] = Field(min_length=1)
    # ovlt_data.image_match distances, 100 x (1 - cosine): measured in bench/decontamination.py
    # perturbed copies measured <= 9.0; distinct MathVision figures >= 12.2 bar two near-copies
    image_max_distance: float = Field(15, ge=0, le=100)  # with text or answer to confirm
    same_image_max_distance: float = Field(10, ge=0, le=100)  # with nothing else agreeing
    same_image: Literal["drop", "keep"] = "drop"
    image_text_confirm: float = Field(0.5, ge=0, le=1)
    text_threshold: float = Field(0.8, gt=0, le=1)


# training-image fingerprints live in the cache's `image_prints` table under this prefix +
# sha256 (bump the prefix when `row_print` changes: old prints are then misses)
_ROW_PRINT_KEY = "print16:"
# part of every cached image search's key: bump when ImageIndex's search or verify changes
IMAGE_MATCH_VERSION = 2  # 2: rotations and mirror images searched too (_search)


def _card_data_hint(bench: str) -> str:
    """ovlt-data has no --data: a benchmark's files are the card's decontaminate `data:` (the
    bundled round cards read OVLT_<BENCH>_DATA)."""
    var = f"OVLT_{bench.upper()}_DATA"
    bundled = var in ("OVLT_MATHVISTA_DATA", "OVLT_MATHVERSE_DATA", "OVLT_MATHVISION_DATA")
    return f"`data:` of {bench} in the card's decontaminate stage" + (
        f", or {var}=PATH with the bundled round cards" if bundled else ""
    )


@dataclass(frozen=True)
class Evidence:
    """What agrees between one training row and one benchmark item."""

    entry: int
    how: str  # the rule that holds: image+text | image+answer | text+answer | text+weak_answer
    image_distance: float | None  # None: no image on one side
    text_similarity: float
    answer: str  # informative | weak | none

    def rank(self) -> tuple:
        """Smaller is closer: more kinds of evidence, then image distance, then text."""
        kinds = (
            (self.image_distance is not None and self.how.startswith("image"))
            + (self.text_similarity >= 0.5)
            + (self.answer == "informative")
        )
        d = self.image_distance if self.image_distance is not None else 1e9
        return (-kinds, d, -self.text_similarity)


class Decontaminate(Stage):
    name = "decontaminate"
    default_pools = ("sft", "grpo")

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.index = BenchIndex(getattr(ctx, "cache", None))
        self.loaded: dict[str, int] = {}
        self.matches: list[dict[str, Any]] = []
        self.same_image_kept: list[dict[str, Any]] = []
        # (row, item) pairs with the same question and a letter / yes-no answer, kept because
        # both images are at hand and differ
        self.weak_kept = 0
        self._questions: dict[str, tuple[str, frozenset[str]]] = {}
        self._answer_forms: dict[tuple, frozenset[str]] = {}

    def prepare(self) -> None:
        from ovlt_eval.benchmarks.loading import benchmark_data_hint

        with benchmark_data_hint(_card_data_hint):
            self._load_benchmarks()

    def _load_benchmarks(self) -> None:
        for ref in self.params.benchmarks:
            data = ref.data or None  # "" (an unset ${VAR:-}) means the Hub
            if data:
                data = str(resolve_card_path(data, self.ctx.card_dir))
            self.loaded[f"{ref.name}/{ref.split}"] = self.index.add_benchmark(
                ref.model_copy(update={"data": data})
            )

    def _row_prints(self, rows: list[Row]) -> dict[str, bytes | None]:
        """sha256 -> fingerprint (None: the image cannot be read), through the cache."""
        from ovlt_data.image_match import row_print

        imgs = {img.sha256: img for r in rows for img in r.example.images}
        cache = self.ctx.cache
        keys = [_ROW_PRINT_KEY + sha for sha in imgs]
        known = {
            k.removeprefix(_ROW_PRINT_KEY): v
            for k, v in (cache.image_prints_get(keys) if cache else {}).items()
        }
        fresh: dict[str, bytes | None] = {}
        for sha, img in imgs.items():
            if sha not in known:
                try:
                    fresh[sha] = row_print(img)
                except Exception:  # validated at load; a failure here only loses image evidence
                    fresh[sha] = None
        if cache:
            cache.image_prints_put({_ROW_PRINT_KEY + k: v for k, v in fresh.items() if v})
        return {**known, **fresh}

    def _image_matches(self, prints: list[bytes], limit: float) -> dict[bytes, list]:
        """print -> [(benchmark image, distance)], through the cache: the search is a function
        of the index's content, the search settings and the print, so a warm rebuild reads it
        (and never builds the image index) instead of aligning every image again."""
        cache, index = self.ctx.cache, self.index
        content = index.content_key(limit, IMAGE_MATCH_VERSION) if cache is not None else None
        if content is None:
            return self._search(prints, limit)
        keys = {p: f"{content}:{hashlib.sha256(p).hexdigest()}" for p in prints}
        known = cache.kv_get("image_matches", list(keys.values()))
        out = {p: [tuple(x) for x in json.loads(known[k])] for p, k in keys.items() if k in known}
        todo = [p for p in prints if p not in out]
        if todo:
            fresh = self._search(todo, limit)
            cache.kv_put("image_matches", {keys[p]: json.dumps(v) for p, v in fresh.items()})
            out.update(fresh)
        return out

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

    def _image_distance(self, e_i: int, row_prints: list[bytes], near: dict[int, float]):
        """Closest distance between the row's images and item e_i's, or None without both."""
        if e_i in near:
            return near[e_i]
        ps = self.index.entry_prints.get(e_i)
        if not ps or not row_prints:
            return None
        from ovlt_data.image_match import dihedral_prints

        return min(
            self.index.images.distance(v, j)
            for r in row_prints
            for v in dihedral_prints(r)
            for j in ps
        )

    def evidence(self, row: Row, row_prints: list[bytes], near: dict[int, float]) -> list[Evidence]:
        """Every benchmark item some rule matches. `near`: entry -> image distance for the items
        whose image the image search found close to one of the row's images."""
        p, ex, idx = self.params, row.example, self.index
        q, sh = self._question(ex.question)
        answers = self._answers(ex.answer, ex.choices)
        row_choices = frozenset(norm_text(c) for c in ex.choices) if ex.choices else None
        texts = dict(idx.similar_texts(q, sh, min(p.text_threshold, 1.0)))
        out = []
        for e_i in sorted(set(near) | set(texts)):
            e = idx.entries[e_i]
            sim = texts.get(e_i) or (1.0 if q == e.question else jaccard(sh, e.shingles))
            agree = answers & e.answers
            answer = "informative" if informative(agree) else ("weak" if agree else "none")
            same_options = e.choices is None or row_choices is None or e.choices == row_choices
            image_ok = e_i in near and near[e_i] <= p.image_max_distance
            how = None
            if image_ok and sim >= p.image_text_confirm:
                how = "image+text"
            elif image_ok and answer == "informative":
                how = "image+answer"
            elif sim >= p.text_threshold and answer == "informative" and same_options:
                how = "text+answer"
            elif answer == "weak" and same_options and compact(q) == compact(e.question):
                d = self._image_distance(e_i, row_prints, near)
                if d is None:
                    how = "text+weak_answer"
                else:  # both images at hand and they differ: a templated look-alike
                    self.weak_kept += 1
            if how is None:
                continue
            d = near.get(e_i)
            if d is None and how.startswith("text"):
                d = self._image_distance(e_i, row_prints, near)  # to tell duplicates apart
            out.append(Evidence(e_i, how, d, round(sim, 3), answer))
        return out

    def match(
        self, row: Row, prints: dict[str, bytes | None], found: dict[bytes, list]
    ) -> dict[str, Any] | None:
        """The drop record for a row, or None to keep it."""
        idx = self.index
        row_prints = [prints[i.sha256] for i in row.example.images if prints.get(i.sha256)]
        near: dict[int, float] = {}
        for rp in row_prints:
            for j, d in found.get(rp, ()):
                for e_i in idx.print_entries[j]:
                    near[e_i] = min(d, near.get(e_i, 1e9))
        ev = sorted(self.evidence(row, row_prints, near), key=Evidence.rank)
        if ev:
            best = ev[0]
            e = idx.entries[best.entry]
            m: dict[str, Any] = {
                "reason": f"contaminated:{e.bench}",
                "benchmark": e.bench,
                "item": e.id,
                "how": best.how,
                "text_similarity": best.text_similarity,
                "answer": best.answer,
            }
            if best.image_distance is not None:
                m["image_distance"] = best.image_distance
            ties = [x for x in ev[1:] if x.rank() == best.rank()]
            if ties:  # benchmarks repeat templated items: name every equally close one
                m["also"] = [
                    f"{idx.entries[x.entry].bench}:{idx.entries[x.entry].id}" for x in ties
                ]
            if e.size and row.example.images:  # evidence for the report, not part of the rule
                img = row.example.images[0]
                m["same_image_size"] = (img.width, img.height) == tuple(e.size)
            return m
        same = [(d, e_i) for e_i, d in near.items() if d <= self.params.same_image_max_distance]
        if same:
            d, e_i = min(same)
            e = idx.entries[e_i]
            return {
                "reason": f"benchmark_image:{e.bench}",
                "benchmark": e.bench,
                "item": e.id,
                "how": "same_image",
                "image_distance": d,
                "text_similarity": round(
                    jaccard(self._question(row.example.question)[1], e.shingles), 3
                ),
            }
        return None

    def apply(self, rows: list[Row]) -> list[Row]:
        p = self.params
        prints = self._row_prints(rows) if self.index.has_images else {}
        uniq = list(dict.fromkeys(v for v in prints.values() if v))
        limit = max(p.image_max_distance, p.same_image_max_distance)
        found = self._image_matches(uniq, limit) if uniq else {}
        out = []
        for r in rows:
            m = self.match(r, prints, found)
            if m is None:
                out.append(r)
                continue
            reason = m.pop("reason")
            if m["how"] == "same_image" and p.same_image == "keep":
                self.same_image_kept.append({"row": r.id, **m})
                out.append(r)
                continue
            self.matches.append({"row": r.id, **m})
            out.append(self.drop(r, reason, json.dumps(m, sort_keys=True)))
        return out

    def _search(self, prints: list[bytes], limit: float) -> dict[bytes, list[tuple[int, float]]]:
        """Benchmark images near each print or any of its rotations and mirror images."""
        from ovlt_data.image_match import dihedral_prints

        variants = {p: dihedral_prints(p) for p in prints}
        every = list(dict.fromkeys(v for vs in variants.values() for v in vs))
        hits = (
            dict(zip(every, self.index.images.search(every, limit), strict=True)) if every else {}
        )
        found = {}
        for p, vs in variants.items():
            best: dict[int, float] = {}
            for v in vs:
                for j, d in hits[v]:
                    best[j] = min(d, best.get(j, d))
            found[p] = sorted(best.items(), key=lambda x: x[1])
        return found

    def report(self) -> dict[str, Any]:
        return {"decontamination": {"benchmarks": self.loaded, "matches": self.matches}}

    def describe(self):
        return {
            **super().describe(),
            "benchmark_items": self.loaded,
            "matches": self.matches,
            "same_image_kept": self.same_image_kept,
            "weak_answer_kept": self.weak_kept,
        }


register_stage(
    Decontaminate,
    DecontaminateParams,
    "drop rows matching MathVista / MathVerse / MathVision items",
)
