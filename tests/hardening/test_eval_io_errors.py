"""Issue 10 item 7 (eval / IO part): one line instead of a traceback for a bad summary.json in
`compare`, a corrupt line in a resumed `samples.jsonl`, a read-only output folder and a full
disk (`run`, `build`, `export`, `merge`, `compare --html`), with no stray temp file left.

The read-only folder and the full disk are real: a folder without write permission (or, as
root, who may write anywhere, a read-only tmpfs) and a small tmpfs filled to the last byte.
Mounting needs root; elsewhere the full-disk tests skip (only the atomic writer's test then
runs, with an injected ENOSPC; see its docstring)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ovlt_data.cache import CallCache
from ovlt_data.cli import main as data_cli
from ovlt_eval.cli import main as eval_cli
from ovlt_eval.errors import report_storage_error, storage_error
from ovlt_eval.testing.openai_server import OpenAIServer, serve
from tests.ovlt_data.helpers import demo_card

DEMO = Path(__file__).resolve().parents[2] / "ovlt_eval" / "demo_data"
SAMPLE = DEMO / "mathvision_sample"


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _strays(folder: Path) -> list[str]:
    """Temp files and staging folders (`.x.123.tmp`, `.v1.tmp-123`, `.v1.merge-tmp`)."""
    return [str(p) for p in folder.rglob("*") if "tmp" in p.name]


# ---------------------------------------------------------------- compare: bad summary.json


@pytest.fixture(scope="module")
def scored_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("compare") / "good"
    argv = ["score", "--bench", "mathvision", "--split", "testmini", "--data", str(SAMPLE)]
    predictions = str(DEMO / "mathvision_testmini_predictions.jsonl")
    assert eval_cli([*argv, "--predictions", predictions, "--out", str(out)]) == 0
    return out


BAD_SUMMARIES = {
    "list": "[1, 2]",
    "string": '"done"',
    "corrupt": '{"benchmark": "mathvision", ',
    "not utf-8": b'{"benchmark": "\xff"}',
    "missing keys": "{}",
    "wrong types": json.dumps({"benchmark": 3, "split": "testmini", "accuracy": 1.0}),
    "accuracy as text": json.dumps({"benchmark": "b", "split": "s", "accuracy": "high"}),
    "breakdown as list": json.dumps({"benchmark": "b", "split": "s", "breakdown": [1]}),
}


@pytest.mark.parametrize("kind", BAD_SUMMARIES)
def test_compare_skips_a_bad_summary_and_compares_the_others(scored_run, tmp_path, capsys, kind):
    bad = tmp_path / "bad-run"
    bad.mkdir()
    text = BAD_SUMMARIES[kind]
    path = bad / "summary.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    html = tmp_path / "report.html"
    assert eval_cli(["compare", str(scored_run), str(bad), "--html", str(html)]) == 1
    out, err = capsys.readouterr()
    line = _one_error_line(err)
    assert line.startswith("ovlt-eval compare: warning: skipped") and str(path) in line, line
    assert str(scored_run) in out and str(bad) not in out  # the good run is still compared
    assert html.is_file()


def test_compare_with_no_readable_summary_exits_2(tmp_path, capsys):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text("[]")
    assert eval_cli(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 3 and all("skipped" in x for x in lines[:2]), err
    assert lines[2] == "ovlt-eval compare: error: no runs to compare (every one was skipped)"


# ---------------------------------------------------------- a resumed run's samples.jsonl


def _run_argv(out: Path, server: OpenAIServer) -> list[str]:
    return [
        "run", "--bench", "mathvision", "--split", "testmini", "--data", str(SAMPLE),
        "--out", str(out), "--no-progress", "--engine", "openai",
        "--base-url", server.base_url, "--model", server.model, "--limit", "3",
    ]  # fmt: skip


@pytest.fixture()
def finished_run(tmp_path):
    with OpenAIServer() as server:
        out = tmp_path / "run"
        assert eval_cli(_run_argv(out, server)) == 0
        yield out, server


@pytest.mark.parametrize(
    "bad",
    ["not json", "[1, 2]", "42", '{"status": "ok", "response": "x"}', '{"id": null}'],
    ids=["corrupt", "list", "number", "no-id", "null-id"],
)
def test_a_bad_middle_line_stops_the_resume_with_one_line(finished_run, capsys, bad):
    out, server = finished_run
    samples = out / "samples.jsonl"
    lines = samples.read_text().splitlines()
    damaged = "\n".join([lines[0], bad, *lines[1:]]) + "\n"
    samples.write_text(damaged)
    capsys.readouterr()
    assert eval_cli(_run_argv(out, server)) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"{samples}:2: this line" in line and "--overwrite" in line, line
    assert samples.read_text() == damaged  # finished work neither dropped nor overwritten


def test_a_torn_last_line_is_still_dropped_and_regenerated(finished_run, capsys):
    out, server = finished_run
    samples = out / "samples.jsonl"
    lines = samples.read_text().splitlines()
    samples.write_text("\n".join(lines[:2]) + "\n" + lines[2][:25])  # killed mid-write
    assert eval_cli(_run_argv(out, server)) == 0
    assert "dropped a torn last line" in capsys.readouterr().err
    again = [json.loads(x) for x in samples.read_text().splitlines()]
    assert len(again) == 3 and {r["id"] for r in again} == {json.loads(x)["id"] for x in lines}


# ------------------------------------------------------ read-only folder and full disk


def _mount_tmpfs(where: Path, options: str) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a tmpfs (read-only or full) needs root")
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")


def _unmount(where: Path) -> None:
    # lazy: a file a failed command left open (its process would have exited) must not keep
    # the mount alive after the test
    subprocess.run(["umount", "--lazy", str(where)], check=False)


@pytest.fixture()
def readonly_dir(tmp_path):
    """A folder nothing can be written in: no write permission, or (root) a read-only tmpfs."""
    where = tmp_path / "readonly"
    if os.geteuid() != 0:
        where.mkdir()
        where.chmod(0o555)
        yield where
        where.chmod(0o755)
        return
    _mount_tmpfs(where, "ro,size=64k")
    try:
        yield where
    finally:
        _unmount(where)


@pytest.fixture()
def full_dir(tmp_path):
    """A real full disk: a 256 KiB tmpfs filled until the kernel says ENOSPC."""
    where = tmp_path / "full"
    _mount_tmpfs(where, "size=256k")
    try:
        with pytest.raises(OSError) as filled, open(where / "filler", "wb") as fh:
            while True:
                fh.write(b"x" * 4096)
                fh.flush()
        assert filled.value.errno == errno.ENOSPC
        yield where
    finally:
        _unmount(where)


@pytest.fixture(scope="module")
def data_inputs(tmp_path_factory):
    """A built version (for export), two shards (for merge), a card and a server (for build)."""
    root = tmp_path_factory.mktemp("data")
    server, url = serve()
    card = root / "card.yaml"
    card.write_text(yaml.safe_dump(demo_card(url, sft=4, grpo=4)))
    build = ["build", "--card", str(card), "--no-progress"]
    assert data_cli([*build, "--out", str(root / "built")]) == 0
    for i in (0, 1):
        assert data_cli([*build, "--out", str(root / "shards"), "--shard", f"{i}/2"]) == 0
    shards = sorted(str(p) for p in (root / "shards" / "demo").glob("v1-shard-*"))
    yield {"card": card, "version": root / "built" / "demo" / "v1", "shards": shards}
    server.stop()


def _commands(data: dict, run_dir: Path, dest: Path) -> dict[str, tuple]:
    version, card = str(data["version"]), str(data["card"])
    return {
        "build": (
            data_cli,
            ["build", "--card", card, "--out", str(dest / "data"), "--no-progress"],
        ),
        "export": (data_cli, ["export", version, "--format", "trl-sft", "--out", str(dest / "x")]),
        "merge": (data_cli, ["merge", *data["shards"], "--out", str(dest / "merged")]),
        "compare --html": (eval_cli, ["compare", str(run_dir), "--html", str(dest / "r.html")]),
    }


COMMANDS = ["run", "build", "export", "merge", "compare --html"]


def _check_storage_failure(command, data, scored_run, dest, capsys, needle) -> None:
    capsys.readouterr()
    if command == "run":
        with OpenAIServer() as server:
            rc = eval_cli(_run_argv(dest / "run", server))
    else:
        cli, argv = _commands(data, scored_run, dest)[command]
        rc = cli(argv)
    assert rc == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f": error: {dest}" in line and needle in line, line
    assert _strays(dest) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_a_read_only_output_folder_is_one_line(
    command, data_inputs, scored_run, readonly_dir, capsys
):
    needle = os.strerror(errno.EROFS if os.geteuid() == 0 else errno.EACCES)
    _check_storage_failure(command, data_inputs, scored_run, readonly_dir, capsys, needle)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_full_disk_is_one_line_and_leaves_no_temp_file(
    command, data_inputs, scored_run, full_dir, capsys
):
    _check_storage_failure(
        command, data_inputs, scored_run, full_dir, capsys, "No space left on device"
    )


def test_build_with_its_cache_on_a_full_disk_is_one_line(data_inputs, full_dir, tmp_path, capsys):
    card = str(data_inputs["card"])
    argv = ["build", "--card", card, "--out", str(tmp_path / "o"), "--no-progress"]
    assert data_cli([*argv, "--cache", str(full_dir / "cache.sqlite")]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "cache.sqlite: No space left on device (SQLite: database or disk is full)" in line


def test_the_cache_filling_the_disk_mid_build_says_so_not_cannot_rollback(tmp_path):
    """The disk fills after the cache is open: SQLite has already rolled back, and a second
    ROLLBACK used to raise "cannot rollback - no transaction is active", hiding the cause."""
    where = tmp_path / "disk"
    _mount_tmpfs(where, "size=256k")
    try:
        cache = CallCache(where / "cache.sqlite")
        try:
            cache.put_many([("k0", "m", "kept")])
            with pytest.raises(OSError), open(where / "filler", "wb") as fh:
                while True:
                    fh.write(b"x" * 4096)
                    fh.flush()
            with pytest.raises(OSError) as raised:
                cache.put_many([(f"k{i}", "m", "y" * 5000) for i in range(1, 200)])
            assert raised.value.errno == errno.ENOSPC
            assert raised.value.filename == str(where / "cache.sqlite")
            assert cache.get_many(["k0"]) == {"k0": "kept"}  # still usable, nothing half-written
        finally:
            cache.close()
    finally:
        _unmount(where)


def test_the_atomic_writer_removes_its_temp_file_and_names_the_target(tmp_path, monkeypatch):
    """ENOSPC injected at fsync: a mock, used because a full disk cannot be made without root
    (the tests above use a real full tmpfs where they can). Only the errno is faked; the temp
    file, its removal and the error's path are real."""
    from ovlt_eval import atomic

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", full)
    target = tmp_path / "summary.json"
    with pytest.raises(OSError) as raised:
        atomic.write_json_atomic(target, {"a": 1})
    assert raised.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []  # neither the target nor a stray temp file

    readonly = tmp_path / "file-not-folder"
    readonly.write_text("")
    with pytest.raises(OSError) as raised:  # a real ENOTDIR: the folder is a regular file
        atomic.write_atomic(readonly / "out.json", "{}")
    assert raised.value.filename == str(readonly / "out.json")  # not the temp name
    assert storage_error(raised.value).startswith(f"{readonly / 'out.json'}: Not a directory")


def test_other_os_errors_keep_their_traceback():
    """Only disk and permission errors are the user's to fix; a missing file our code expected
    is a bug and must stay visible as one."""
    bug = FileNotFoundError(errno.ENOENT, "No such file or directory", "/x/expected")
    assert storage_error(bug) is None
    with pytest.raises(FileNotFoundError):
        report_storage_error("ovlt-eval run", bug)
    full = OSError(errno.ENOSPC, "No space left on device")
    assert storage_error(full, "/out").startswith("/out: No space left on device; free")
