"""Issue 10 item 3 (and item 7's non-UTF-8 JSONL line): inputs read only what they should.

A benchmark row or a data-source row names its image by path. A path outside the data folder
(`../secret.png`, `/etc/passwd`, a symlink out) is never read, nor is anything but a regular
file of bounded size (`/dev/zero`, a FIFO); a missing, empty, corrupt or decompression-bomb
image is that one item's error (eval) or rejected row (data), never an abort, never a silent
text-only `ok`, and its bytes never reach the model server.
"""

import base64
import json
import os
import struct
import zlib

import pytest
from PIL import Image

from ovlt_data.artifact import iter_config, read_manifest
from ovlt_data.cli import main as data_cli
from ovlt_eval.cli import main as eval_cli
from ovlt_eval.testing.openai_server import OpenAIServer
from tests.ovlt_data.helpers import demo_card


class RecordingServer(OpenAIServer):
    """The loopback server, keeping every chat request body it received."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.bodies: list[bytes] = []

    async def _chat(self, body, writer):
        self.bodies.append(body)
        return await super()._chat(body, writer)

    def images_sent(self) -> list[bytes]:
        out = []
        for body in self.bodies:
            for message in json.loads(body)["messages"]:
                content = message.get("content")
                for part in content if isinstance(content, list) else ():
                    if part.get("type") == "image_url":
                        url = part["image_url"]["url"]
                        out.append(base64.b64decode(url.split(",", 1)[1]))
        return out


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(path, width, height):
    """A valid 1-bit PNG declaring width x height pixels, a few KiB on disk, built row by row
    (PIL would hold all the pixels in memory to write it)."""
    z = zlib.compressobj(9)
    row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed bits
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def hostile_folder(tmp_path):
    """<tmp>/secret.png (a real image outside the data folder) and <tmp>/data/images/* with
    one good image and every kind of bad one. Returns (data folder, {name: path as written})."""
    data = tmp_path / "data"
    images = data / "images"
    images.mkdir(parents=True)
    Image.new("RGB", (9, 9), (200, 10, 10)).save(tmp_path / "secret.png")
    Image.new("RGB", (8, 8), (1, 2, 3)).save(images / "good.png")
    (images / "empty.png").write_bytes(b"")
    (images / "corrupt.png").write_bytes((images / "good.png").read_bytes()[:40])
    bomb_png(images / "bomb.png", 20_000, 10_000)  # 200 MP: over PIL's own limit
    bomb_png(images / "big.png", 9_000, 8_000)  # 72 MP: over ours, under PIL's warning
    os.mkfifo(images / "fifo.png")
    os.symlink(tmp_path / "secret.png", images / "link.png")
    os.symlink("/dev/zero", images / "zero.png")
    paths = {
        "good": "images/good.png",
        "dotdot": "../secret.png",
        "absolute": str(tmp_path / "secret.png"),
        "passwd": "/etc/passwd",
        "devzero": "/dev/zero",
        "symlink": "images/link.png",
        "zerolink": "images/zero.png",
        "fifo": "images/fifo.png",
        "missing": "images/nope.png",
        "empty": "images/empty.png",
        "corrupt": "images/corrupt.png",
        "bomb": "images/bomb.png",
        "big": "images/big.png",
    }
    return data, paths


EXPECTED_WORDS = {
    "dotdot": "outside the data folder",
    "absolute": "outside the data folder",
    "passwd": "outside the data folder",
    "devzero": "outside the data folder",
    "symlink": "outside the data folder",
    "zerolink": "outside the data folder",
    "fifo": "not a regular file",
    "missing": "not found",
    "empty": "empty",
    "corrupt": "cannot read",
    "bomb": "pixels",
    "big": "over 64000000 pixels",
}


def _samples(out):
    latest = {}
    lines = (out / "samples.jsonl").read_text().splitlines()
    for line in lines:
        rec = json.loads(line)
        latest[rec["id"]] = rec
    return latest, len(lines)


def test_eval_reads_only_images_inside_the_data_folder(tmp_path, capsys):
    data, paths = hostile_folder(tmp_path)
    with open(data / "testmini.jsonl", "w") as fh:  # the MATH-Vision testmini format
        for name, path in paths.items():
            row = {"id": name, "question": f"How many? ({name})", "options": [], "answer": "1"}
            row |= {"solution": None, "level": 1, "subject": "counting", "image": path}
            fh.write(json.dumps(row) + "\n")
    secret = (tmp_path / "secret.png").read_bytes()
    out = tmp_path / "run"
    with RecordingServer(replies=lambda prompt: "<answer>1</answer>") as server:
        argv = [
            "run", "--bench", "mathvision", "--split", "testmini", "--data", str(data),
            "--engine", "openai", "--base-url", server.base_url, "--model", server.model,
            "--out", str(out), "--no-progress",
        ]  # fmt: skip
        assert eval_cli(argv) == 1  # some items failed: the run finished, and says so
        err = capsys.readouterr().err
        assert "12 items failed" in err and "Traceback" not in err
        assert "fix those image files, then run again with --overwrite" in err, err
        sent = server.images_sent()
        assert sent == [(data / "images/good.png").read_bytes()]  # the only image sent
        assert all(secret not in body for body in server.bodies)
        assert all(base64.b64encode(secret) not in body for body in server.bodies)

        latest, n_lines = _samples(out)
        assert latest["good"]["status"] == "ok" and latest["good"]["correct"] is True
        for name, words in EXPECTED_WORDS.items():
            rec = latest[name]
            assert rec["status"] == "error" and rec["correct"] is False, rec
            assert rec["error"].startswith("image: ") and words in rec["error"], rec["error"]
            assert "\n" not in rec["error"]
        summary = json.loads((out / "summary.json").read_text())
        assert summary["run"]["status_counts"]["error"] == len(EXPECTED_WORDS)

        # a resume retries the error items (and only them); they fail again, still unsent
        assert eval_cli(argv) == 1
        latest, again = _samples(out)
        assert again == n_lines + len(EXPECTED_WORDS)
        assert all(latest[name]["status"] == "error" for name in EXPECTED_WORDS)
        assert len(server.images_sent()) == 1


def test_build_rejects_source_rows_that_read_outside_or_read_junk(tmp_path):
    data, paths = hostile_folder(tmp_path)
    lines = [
        json.dumps({"id": name, "question": "How many squares?", "answer": "1", "image": p})
        for name, p in paths.items()
    ]
    latin1 = '{"id": "latin", "question": "Caf\xe9?", "answer": "1", "image": "images/good.png"}'
    lines.insert(1, latin1)  # line 2 is Latin-1, not UTF-8
    (data / "rows.jsonl").write_bytes(b"\n".join(x.encode("latin-1") for x in lines) + b"\n")
    secret = (tmp_path / "secret.png").read_bytes()
    with RecordingServer(replies="teacher", model="loopback") as server:
        card = demo_card(server.base_url, sft=2, grpo=2)
        card["sources"].append(
            {
                "name": "mine",
                "kind": "local",
                "pool": "sft",
                "path": str(data / "rows.jsonl"),
                "fields": {"id": "id"},
            }
        )
        (tmp_path / "card.yaml").write_text(json.dumps(card))
        out = tmp_path / "out"
        argv = ["build", "--card", str(tmp_path / "card.yaml"), "--out", str(out), "--no-progress"]
        assert data_cli(argv) == 0
        assert all(secret not in body for body in server.bodies)
        assert all(base64.b64encode(secret) not in body for body in server.bodies)

    (vd,) = [p.parent for p in out.rglob("manifest.json")]
    rejected = {
        r["id"]: r["reject_reason"]
        for r in iter_config(vd, "rejected")
        if r["reject_stage"] == "source"
    }
    assert rejected == {
        "mine:1": "bad_record",  # the non-UTF-8 line, counted, and the build went on
        "mine:dotdot": "image_outside_folder",
        "mine:absolute": "image_outside_folder",
        "mine:passwd": "image_outside_folder",
        "mine:devzero": "image_outside_folder",
        "mine:symlink": "image_outside_folder",
        "mine:zerolink": "image_outside_folder",
        "mine:fifo": "not_a_file",
        "mine:missing": "missing_image",
        "mine:empty": "empty_image",
        "mine:corrupt": "corrupt_image",
        "mine:bomb": "image_too_large",
        "mine:big": "image_too_large",
    }
    dropped = read_manifest(vd)["stages"][0]["dropped"]
    assert dropped["image_outside_folder"] == 6 and dropped["bad_record"] == 1
    for f in vd.rglob("*"):  # the secret is in no file the build wrote
        assert not f.is_file() or secret not in f.read_bytes(), f


@pytest.mark.parametrize("value", ["../secret.png", "/etc/passwd", "/dev/zero"])
def test_a_path_outside_is_refused_before_any_read(tmp_path, value):
    from ovlt_eval.engines.images import UnreadableImage, checked_image_path

    got = checked_image_path(value, tmp_path / "data")
    assert isinstance(got, UnreadableImage) and got.reason == "image_outside_folder"


def test_the_engines_read_only_bounded_regular_files(tmp_path):
    """The engine-side read checks the opened descriptor too: a path that became a FIFO or a
    device after the loader looked is refused at once, never waited on or read forever."""
    from ovlt_eval.engines.images import ImageError, load_pil, to_data_url

    os.mkfifo(tmp_path / "fifo.png")
    for path in (str(tmp_path / "fifo.png"), "/dev/zero"):
        for read in (to_data_url, load_pil):
            with pytest.raises(ImageError) as err:
                read(path)
            assert err.value.reason == "not_a_file"
    bomb_png(tmp_path / "bomb.png", 20_000, 10_000)
    with pytest.raises(ImageError) as err:
        to_data_url(str(tmp_path / "bomb.png"))
    assert err.value.reason == "image_too_large"


def test_a_non_utf8_json_source_is_one_line(tmp_path):
    from ovlt_data.sources import SourceContext, get_source_kind
    from ovlt_eval.errors import UserError

    path = tmp_path / "rows.json"
    path.write_bytes(b'[{"id": "a", "question": "Caf\xe9?", "answer": "1", "image": "x.png"}]')
    kind = get_source_kind("local")
    with pytest.raises(UserError) as err:
        list(
            kind.open(
                "src", kind.validate_options({"path": str(path)}, "t"), SourceContext(1, None)
            )
        )
    assert str(err.value) == f"local source {path}: not UTF-8"
