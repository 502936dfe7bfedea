"""SIGKILL a build twice mid-way, resume it: no row lost or repeated, same fingerprint.

The models sit behind the loopback OpenAI-compatible server with 0.25 s latency per request, so
the build takes a few seconds and can be killed between cache commits.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import yaml

from ovlt_data.artifact import iter_config, read_manifest
from ovlt_data.build import build
from ovlt_data.schema import CONFIGS
from ovlt_eval.testing.openai_server import serve

from .helpers import REPO, demo_card


def _cached(db) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return con.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _start(card_path, out):
    cmd = [
        sys.executable,
        "-m",
        "ovlt_data.cli",
        "build",
        "--card",
        str(card_path),
        "--out",
        str(out),
        "--no-progress",
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _kill_when_cache_grows(card_path, out, above: int) -> int:
    proc = _start(card_path, out)
    db = out / "cache.sqlite"
    deadline = time.monotonic() + 60
    while _cached(db) <= above:
        assert proc.poll() is None, (
            f"build ended before the kill: {proc.stderr.read().decode()[-800:]}"
        )
        assert time.monotonic() < deadline, "cache never grew"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return _cached(db)


def test_sigkill_twice_then_resume_gives_the_uninterrupted_build(tmp_path):
    server, url = serve(latency=0.25)
    try:
        card = demo_card(url, sft=40, grpo=16)
        card["batch_size"] = 8
        card_path = tmp_path / "card.yaml"
        card_path.write_text(yaml.safe_dump(card))

        reference = build(card, out=tmp_path / "reference")  # uninterrupted, its own cache
        ref = read_manifest(reference)

        out = tmp_path / "killed"
        after_first = _kill_when_cache_grows(card_path, out, above=0)
        after_second = _kill_when_cache_grows(card_path, out, above=after_first + 8)
        assert not (out / "demo" / "v1").exists()  # a killed build leaves no half version
        assert 0 < after_first < after_second < sum(ref["cache"]["engine_requests"].values()) * 4

        proc = _start(card_path, out)
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr.decode()[-1500:]
        resumed = read_manifest(out / "demo" / "v1")
    finally:
        server.shutdown()

    print(
        f"\nkilled at {after_first} and {after_second} cached samples; resumed: "
        f"{resumed['cache']['hits']} cache hits, {sum(resumed['cache']['engine_requests'].values())} requests "
        f"(uninterrupted: {sum(ref['cache']['engine_requests'].values())}); fingerprint {resumed['fingerprint'][:16]}"
    )
    assert resumed["fingerprint"] == ref["fingerprint"]
    assert resumed["cache"]["hits"] > 0
    assert sum(resumed["cache"]["engine_requests"].values()) < sum(
        ref["cache"]["engine_requests"].values()
    )
    ids = [r["id"] for c in CONFIGS for r in iter_config(out / "demo" / "v1", c, ["id"])]
    ref_ids = [r["id"] for c in CONFIGS for r in iter_config(reference, c, ["id"])]
    assert len(ids) == len(set(ids)) == 56 and sorted(ids) == sorted(ref_ids)
    assert not list((out / "demo").glob(".v1.tmp-*"))  # dead staging folders were swept
