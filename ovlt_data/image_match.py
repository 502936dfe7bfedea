"""Is this training image a benchmark image, resized, re-compressed or slightly cropped?

A 64-bit pHash is not enough for that (measured on the 304 MathVision testmini images, see
bench/decontamination.py): line drawings are mostly white, so most of pHash's DCT coefficients
sit next to the median and flip under JPEG; and a crop of a few percent shifts every
coefficient. The planted-item check found an item resized to 82 % and re-saved as JPEG 14 bits
away (limit 6); here, crops of 1-5 % put a third of the images more than 6 bits away.

Instead, an alignment-searching thumbnail match, in two steps:
- every image becomes a grey thumbnail squashed to a square (a crop of the original is a crop
  of the thumbnail, per axis); a training image keeps 16x16 cell means (256 bytes), a benchmark
  image 64x64 (4 KiB) so that crops of it can be re-sampled;
- *retrieve*: the training image's 8x8 means against 8x8 means of six crops of every benchmark
  image (cosine after removing the mean), keeping the best few above a loose floor;
- *verify*: for each retrieved benchmark image, 625 crop windows (0 to 6.25 % off each side, in
  steps of 1/64) are re-sampled to 16x16 (two matrix products) and compared with the training
  image; the best window's cosine is the match.

`distance` = 100 x (1 - best cosine): 0 is the same picture. Measured on all 304 MathVision
testmini images (bench/decontamination.py --distances): resized 70-90 %, JPEG quality 20-95,
cropped 1-5 %, alone or together, <= 9.0 from the original (pHash: up to 32 of 64 bits); the
nearest *other* MathVision image >= 12.2, except two near-duplicate pairs (2.2, 4.0), which is
why text and answer decide between candidates; the 1,000 TabMWP tables >= 33.6 from every
MathVision image. A uniform image has no direction and matches nothing.

A benchmark picture turned a quarter, upside down or mirrored is still that picture: each
training image is also searched as its seven rotations and mirror images (`dihedral_prints`),
and every image is read upright first (EXIF orientation applied, as viewers and trainers do).
"""

from __future__ import annotations

import io

import numpy as np

SIDE = 64  # benchmark thumbnail side: 1 px = 1/64 of the width or height
CELLS = 16  # compared resolution
COARSE = 8  # retrieval resolution
# retrieval: the benchmark image and five crops of it (l, t, r, b in thumbnail pixels)
_COARSE_WINDOWS = np.array(
    [(0, 0, 0, 0), (1, 1, 1, 1), (2, 2, 0, 0), (0, 0, 2, 2), (2, 0, 0, 2), (0, 2, 2, 0)], float
)
_STEPS = range(5)  # 0 .. 4 px = 0 .. 6.25 % off each side


def _cell_matrices(n: int) -> np.ndarray:
    """(25, n, SIDE): row k of matrix (a, b) averages the pixels of cell k of the span that
    leaves a px before and b px after, pixels weighted by their overlap with the cell. A crop
    window is then A[t, b] @ thumb @ A[l, r].T."""
    out = np.zeros((len(_STEPS) ** 2, n, SIDE))
    px = np.arange(SIDE)
    for i, (a, b) in enumerate((a, b) for a in _STEPS for b in _STEPS):
        edges = a + (SIDE - a - b) * np.linspace(0, 1, n + 1)
        lo, hi = edges[:-1, None], edges[1:, None]
        overlap = np.clip(np.minimum(hi, px + 1) - np.maximum(lo, px), 0, None)
        out[i] = overlap / (hi - lo)
    return out


_CELL_MATRICES = _cell_matrices(CELLS)


def _grey(image_or_bytes, side: int) -> np.ndarray:
    from PIL import Image as PILImage
    from PIL import ImageOps

    data = getattr(image_or_bytes, "data", image_or_bytes)  # ovlt_data.schema.Image
    im = PILImage.open(io.BytesIO(data)) if isinstance(data, (bytes, bytearray)) else data
    # upright as shown: an image stored rotated with an EXIF orientation tag is displayed (and
    # trained on: `datasets`, transformers' load_image) after this transpose
    im = ImageOps.exif_transpose(im)
    if im.mode in ("RGBA", "LA", "P"):  # transparent pixels count as white, as they are shown
        rgba = im.convert("RGBA")
        bg = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = PILImage.alpha_composite(bg, rgba)
    g = ImageOps.grayscale(im.convert("RGB"))
    # two BOX steps: area averages, so thin lines survive as grey instead of aliasing away
    if g.width > 4 * side or g.height > 4 * side:
        g = g.reduce((max(1, g.width // (4 * side)), max(1, g.height // (4 * side))))
    return np.asarray(g.resize((side, side), PILImage.Resampling.BOX), dtype=np.uint8)


def row_print(image_or_bytes) -> bytes:
    """A training image's fingerprint: 16x16 grey cell means (256 bytes)."""
    t = _grey(image_or_bytes, SIDE).astype(np.float64)
    k = SIDE // CELLS
    cells = t.reshape(CELLS, k, CELLS, k).mean(axis=(1, 3))
    return np.clip(np.rint(cells), 0, 255).astype(np.uint8).tobytes()


def dihedral_prints(row: bytes) -> tuple[bytes, ...]:
    """A training fingerprint and those of its three other rotations and four mirror images,
    distinct ones only, the print itself first. The thumbnail is squashed to a square, so a
    quarter turn of the image is a quarter turn of its cell means."""
    c = np.frombuffer(row, dtype=np.uint8).reshape(CELLS, CELLS)
    out = []
    for m in (c, c.T):
        for k in range(4):
            out.append(np.ascontiguousarray(np.rot90(m, k)).tobytes())
    return tuple(dict.fromkeys(out))


def bench_print(image_or_bytes) -> bytes:
    """A benchmark image's fingerprint: its 64x64 grey thumbnail (4 KiB)."""
    return _grey(image_or_bytes, SIDE).tobytes()


def _unit(v: np.ndarray) -> np.ndarray:
    v = v - v.mean(axis=-1, keepdims=True)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, n, out=np.zeros_like(v), where=n > 1e-6)


def _row_vectors(prints: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """(N, 256) unit 16x16 vectors and (N, 64) unit 8x8 vectors."""
    c = np.frombuffer(b"".join(prints), dtype=np.uint8).reshape(-1, CELLS, CELLS).astype(float)
    k = CELLS // COARSE
    coarse = c.reshape(-1, COARSE, k, COARSE, k).mean(axis=(2, 4))
    return _unit(c.reshape(len(prints), -1)), _unit(coarse.reshape(len(prints), -1))


def _integral(thumb: np.ndarray) -> np.ndarray:
    out = np.zeros((SIDE + 1, SIDE + 1))
    out[1:, 1:] = thumb.astype(np.float64).cumsum(0).cumsum(1)
    return out


def _window_vectors(integral: np.ndarray, windows: np.ndarray, n: int) -> np.ndarray:
    """Unit n x n cell-mean vectors of crop windows (l, t, r, b), sampled at fractional
    coordinates from the integral image (bilinear), so a window need not fall on pixels."""
    left, top, right, bottom = (windows[:, i][:, None] for i in range(4))
    grid = np.linspace(0, 1, n + 1)[None, :]
    xs = left + (SIDE - right - left) * grid
    ys = top + (SIDE - bottom - top) * grid
    y, x = ys[:, :, None], xs[:, None, :]
    y0 = np.clip(np.floor(y).astype(int), 0, SIDE - 1)
    x0 = np.clip(np.floor(x).astype(int), 0, SIDE - 1)
    fy, fx = y - y0, x - x0
    v = (
        integral[y0, x0] * (1 - fy) * (1 - fx)
        + integral[y0 + 1, x0] * fy * (1 - fx)
        + integral[y0, x0 + 1] * (1 - fy) * fx
        + integral[y0 + 1, x0 + 1] * fy * fx
    )
    cells = v[:, 1:, 1:] - v[:, :-1, 1:] - v[:, 1:, :-1] + v[:, :-1, :-1]
    return _unit(cells.reshape(len(windows), -1))


class ImageIndex:
    """Benchmark image fingerprints, searchable by training-image fingerprints."""

    def __init__(self, prints: list[bytes], retrieve: int = 5, floor: float = 0.5):
        self.n = len(prints)
        self.retrieve = retrieve  # candidates verified per training image
        # retrieval cosine below which nothing is verified: perturbed copies measured >= 0.85
        # (0.55 with 5 % cut off every side); TabMWP tables verify 0.6 candidates per image
        self.floor = floor
        self._thumbs = [np.frombuffer(p, dtype=np.uint8).reshape(SIDE, SIDE) for p in prints]
        if self.n:
            coarse = [_window_vectors(_integral(t), _COARSE_WINDOWS, COARSE) for t in self._thumbs]
            self._coarse = np.stack(coarse).astype(np.float32)  # (M, 6, 64)
        self._norm_cache: dict[int, np.ndarray] = {}

    def search(self, prints: list[bytes], max_distance: float) -> list[list[tuple[int, float]]]:
        """For each training fingerprint: [(benchmark image, distance <= max_distance)],
        closest first."""
        if not self.n or not prints:
            return [[] for _ in prints]
        fine, coarse = _row_vectors(prints)
        # (N, M): the best of the six retrieval crops
        score = np.einsum("nd,mkd->nmk", coarse.astype(np.float32), self._coarse).max(axis=2)
        out = []
        for i in range(len(prints)):
            top = np.argsort(-score[i])[: self.retrieve]
            found = []
            for j in top[score[i, top] >= self.floor]:
                d = self._verify(fine[i], int(j))
                if d <= max_distance:
                    found.append((int(j), d))
            out.append(sorted(found, key=lambda x: x[1]))
        return out

    def distance(self, row: bytes, j: int) -> float:
        """The verified distance between one training fingerprint and benchmark image j."""
        fine, _ = _row_vectors([row])
        return self._verify(fine[0], j)

    def _verify(self, fine: np.ndarray, j: int) -> float:
        # window (a, b) = A[a] @ thumb @ A[b].T, a = top/bottom margins, b = left/right ones.
        # Its dot product with the row's V is <A[a] @ thumb, V @ A[b]>: no window is formed.
        a = _CELL_MATRICES  # (25, 16, 64)
        m = a @ self._thumbs[j].astype(np.float64)  # (25, 16, 64): rows of every (t, b)
        u = fine.reshape(CELLS, CELLS) @ a  # (25, 16, 64): the row, spread over every (l, r)
        dots = m.reshape(25, -1) @ u.reshape(25, -1).T  # (25 x 25) <window, V>
        # cosine with a zero-mean unit V: <w, V> / |w - mean(w)|
        norms = self._norms(j, m)
        cos = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 1e-6)
        return round(100.0 * (1.0 - float(cos.max())), 1)

    def _norms(self, j: int, m: np.ndarray) -> np.ndarray:
        """|w - mean(w)| of benchmark image j's 625 windows: the image's alone, kept (5 KiB)."""
        hit = self._norm_cache.get(j)
        if hit is None:
            a = _CELL_MATRICES
            w = np.stack([m[t] @ a[b].T for t in range(25) for b in range(25)])  # small products
            w = w.reshape(625, -1)
            sq = (w * w).sum(1) - w.sum(1) ** 2 / w.shape[1]
            hit = np.sqrt(np.maximum(sq, 0.0)).reshape(25, 25)
            self._norm_cache[j] = hit
        return hit
