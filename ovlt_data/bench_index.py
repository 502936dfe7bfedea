"""The benchmark side of decontamination: every benchmark item's normalised question, word
3-grams, answer spellings, options and image fingerprints, indexed for lookup by text and image.

A benchmark's part of the index is stored in the build cache under the content digest of its
files and of this code, so a rebuild neither parses the benchmark nor fingerprints its images
again. The matching rules that use the index are `stages/decontaminate.py`'s.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from ovlt_eval.errors import UserError

LETTERS = "abcdefghijklmnopqrstuvwxyz"
_PLACEHOLDER = re.compile(r"<image\d*>", re.I)
_NONWORD = re.compile(r"[\W_]+", re.UNICODE)


def norm_text(s: str) -> str:
    s = _PLACEHOLDER.sub(" ", s or "").lower()
    return " ".join(_NONWORD.sub(" ", s).split())


def compact(norm: str) -> str:
    """Without spaces: "3.5" and "35" (a dropped decimal point) compare equal."""
    return norm.replace(" ", "")


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


_WEAK = frozenset(LETTERS) | {"yes", "no", "true", "false"}


def informative(agreeing: frozenset[str]) -> bool:
    """Does the agreement say more than a chance hit? A bare option letter or yes/no does not."""
    return any(f not in _WEAK for f in agreeing)


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


INDEX_VERSION = "2"  # bump when what an index entry holds changes
_MAX_DIGEST_BYTES = 512 << 20  # a larger benchmark folder is re-indexed rather than hashed


@functools.lru_cache(maxsize=1)
def _code_digest() -> str:
    """The indexing code and the benchmark loaders: a cached index part built by other code is
    not reused."""
    from importlib.util import find_spec

    # located, not imported: a cache hit must not pay for importing the loaders
    (folder,) = find_spec("ovlt_eval.benchmarks").submodule_search_locations
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update((Path(__file__).parent / "image_match.py").read_bytes())
    for path in sorted(Path(folder).glob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()


def _part_key(ref: BenchmarkRef, cache=None) -> str | None:
    """Content address of one benchmark's index part: code, benchmark, split and the bytes of
    every file under its local `data`. None (no caching) for the Hub or a very large folder.

    Hashing the files' bytes is most of a warm rebuild's decontamination time, so with a cache
    the digest is remembered under the files' (name, size, mtime) — as make and pip trust
    them: a file rewritten in place gets a new mtime and is hashed again."""
    if not ref.data:
        return None
    root = Path(ref.data).expanduser()
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    if not all(p.is_file() for p in files):
        return None  # missing: the loader reports it with its own message
    stats = [p.stat() for p in files]
    if sum(st.st_size for st in stats) > _MAX_DIGEST_BYTES:
        return None
    memo = None
    if cache is not None:
        listing = [[str(p), st.st_size, st.st_mtime_ns] for p, st in zip(files, stats, strict=True)]
        head = json.dumps(["bench-files", INDEX_VERSION, _code_digest(), ref.name, ref.split])
        memo = "bench-files:" + hashlib.sha256((head + json.dumps(listing)).encode()).hexdigest()
        known = cache.blob_get(memo)
        if known is not None:
            return known.decode()
    h = hashlib.sha256(
        json.dumps(["bench-index", INDEX_VERSION, _code_digest(), ref.name, ref.split]).encode()
    )
    for p in files:
        h.update(f"\0{p.relative_to(root) if root.is_dir() else p.name}\0".encode())
        h.update(p.read_bytes())
    key = "bench-index:" + h.hexdigest()
    if memo is not None:
        cache.blob_put(memo, key.encode())
    return key


def _part_to_json(part) -> bytes:
    entries, prints, n_items = part
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
    images = [[i, base64.b64encode(p).decode()] for i, p in prints]
    return json.dumps([rows, images, n_items]).encode()


def _part_from_json(data: bytes):
    rows, images, n_items = json.loads(data)
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
    return entries, [(i, base64.b64decode(p)) for i, p in images], n_items


class BenchIndex:
    def __init__(self, cache=None):
        self.entries: list[BenchEntry] = []
        self.by_text: dict[str, list[int]] = defaultdict(list)
        self.by_shingle: dict[str, list[int]] = defaultdict(list)
        # distinct benchmark image fingerprints (MathVerse shows one figure in five versions)
        self.prints: list[bytes] = []
        self.print_entries: list[list[int]] = []  # fingerprint -> the entries showing it
        self._print_ids: dict[bytes, int] = {}
        self.entry_prints: dict[int, list[int]] = defaultdict(list)
        self.cache = cache
        # content keys of the parts added, in order (None: a part that cannot be cached, e.g.
        # from the Hub): together they name this index's content for the image-match cache
        self.part_keys: list[str | None] = []
        self._images = None
        self._similar: dict = {}

    @property
    def has_images(self) -> bool:
        return bool(self.prints)

    def content_key(self, *params: Any) -> str | None:
        """A digest of everything an image search over this index depends on (its parts' content
        keys and the search `params`), or None when a part has no content key."""
        if not self.part_keys or any(k is None for k in self.part_keys):
            return None
        blob = json.dumps(["image-search", self.part_keys, list(params)]).encode()
        return hashlib.sha256(blob).hexdigest()

    @property
    def images(self):
        from ovlt_data.image_match import ImageIndex

        if self._images is None:
            self._images = ImageIndex(self.prints)
        return self._images

    def add_benchmark(self, ref: BenchmarkRef) -> int:
        """Index one benchmark; return its item count. With local files and a cache, the
        benchmark's part of the index is stored under the files' content digest, so a rebuild
        neither parses the benchmark nor fingerprints its images again."""
        key = _part_key(ref, self.cache) if self.cache is not None else None
        self.part_keys.append(key)
        cached = self.cache.blob_get(key) if key else None
        if cached is not None:
            part = _part_from_json(cached)
        else:
            part = self._benchmark_part(ref)
            if key:
                self.cache.blob_put(key, _part_to_json(part))
        entries, prints, n_items = part
        base = len(self.entries)
        for e in entries:
            idx = len(self.entries)
            self.entries.append(e)
            self.by_text[e.question].append(idx)
            for s in e.shingles:
                self.by_shingle[s].append(idx)
        for local_idx, p in prints:
            j = self._print_ids.get(p)
            if j is None:
                j = self._print_ids[p] = len(self.prints)
                self.prints.append(p)
                self.print_entries.append([])
            self.print_entries[j].append(base + local_idx)
            self.entry_prints[base + local_idx].append(j)
        self._images = None
        self._similar = {}
        return n_items

    def _benchmark_part(self, ref: BenchmarkRef) -> tuple[list[BenchEntry], list, int]:
        """(entries, [(entry index, image fingerprint)], item count) of one benchmark."""
        from ovlt_data.image_match import bench_print

        try:
            from ovlt_eval.benchmarks import get_benchmark
        except ImportError as e:  # pragma: no cover - the benchmarks package is part of ovlt
            raise UserError(f"decontaminate: ovlt_eval.benchmarks unavailable ({e})") from None
        items = get_benchmark(ref.name).load(ref.split, data=ref.data)
        entries: list[BenchEntry] = []
        prints: list[tuple[int, bytes]] = []
        done: dict[str, bytes | None] = {}  # benchmarks reuse a figure across items
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
            for b in imgs:
                sha = hashlib.sha256(b).hexdigest()
                if sha not in done:
                    try:
                        done[sha] = bench_print(b)
                    except Exception:  # an unreadable benchmark image: the item keeps its text
                        done[sha] = None
                if done[sha] is not None:
                    prints.append((idx, done[sha]))
            entries.append(
                BenchEntry(
                    ref.name,
                    str(item.id),
                    q,
                    shingles(q),
                    answer_forms(str(answer), choices),
                    frozenset(norm_text(c) for c in choices) if choices else None,
                    bool(prints) and prints[-1][0] == idx,
                    size if None not in size else None,
                )
            )
        return entries, prints, len(items)

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
