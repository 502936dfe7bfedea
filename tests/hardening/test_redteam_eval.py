"""Red-team findings in `ovlt-eval`, each pinned: benchmark rows with fields of the wrong type,
--data that is no regular file (a FIFO found in a folder hung the run), a sparse 2 GB file (4 GB
of memory), hostile servers (a reply body without end or limit, a redirect to another host, a
/models answer whose `data` is no list), and run folders that are files, dangling links or hold
folders where the run's files should be. Every server is the real loopback server."""

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ovlt_eval.cli import main as eval_cli
from ovlt_eval.engines import transport
from ovlt_eval.testing.openai_server import OpenAIServer

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "ovlt_eval" / "demo_data" / "mathvision_sample"
BAD_ITEM = "4"  # its question: "How many different digits can you find in this picture?"


def _run_args(out, base_url, *extra, data=SAMPLE, bench="mathvision"):
    return [
        "run", "--bench", bench, "--data", str(data), "--limit", "3", "--engine", "openai",
        "--model", "fake-model", "--base-url", base_url, "--out", str(out), "--no-progress",
        *extra,
    ]  # fmt: skip


def _one_line(err: str) -> str:
    err = err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _records(out) -> dict[str, dict]:
    lines = (out / "samples.jsonl").read_text().splitlines()
    return {r["id"]: r for r in map(json.loads, lines) if r}


# ------------------------------------------------------------------- benchmark rows and files

MATHVISTA_ROW = {
    "pid": "1", "question": "What is x?", "image": None, "choices": None, "unit": None,
    "precision": 1, "answer": "1.2", "question_type": "free_form", "answer_type": "float",
    "metadata": {"task": "math"},
}  # fmt: skip
MATHVISION_ROW = {"id": "4", "question": "How many?", "options": [], "answer": "6", "image": None}
MATHVERSE_ROW = {
    "sample_index": "1", "problem_index": "1", "problem_version": "Text Dominant",
    "question": "q", "image": None, "answer": "14", "question_type": "free-form",
    "metadata": {"split": "testmini"}, "query_wo": "q", "query_cot": "q",
}  # fmt: skip

WRONG_TYPES = {
    "mathvista metadata list": ("mathvista", MATHVISTA_ROW, "metadata", ["a"], "json"),
    "mathvista precision text": ("mathvista", MATHVISTA_ROW, "precision", "abc", "json"),
    "mathvista choices number": ("mathvista", MATHVISTA_ROW, "choices", 42, "json"),
    "mathverse metadata list": ("mathverse", MATHVERSE_ROW, "metadata", ["a"], "json"),
    "mathvision options number": ("mathvision", MATHVISION_ROW, "options", 42, "jsonl"),
}


@pytest.mark.parametrize("case", WRONG_TYPES, ids=list(WRONG_TYPES))
def test_a_row_with_a_field_of_the_wrong_type_is_one_line_naming_it(case, tmp_path, capsys):
    bench, row, field, value, suffix = WRONG_TYPES[case]
    good = dict(row)
    bad = {**row, field: value, "pid" if bench == "mathvista" else "id": "77"}
    if bench == "mathverse":
        bad["sample_index"] = "77"
    data = tmp_path / f"bench.{suffix}"
    data.write_text(
        "\n".join(json.dumps(r) for r in (good, bad))
        if suffix == "jsonl"
        else json.dumps([good, bad])
    )
    argv = _run_args(tmp_path / "out", "http://127.0.0.1:9/v1", data=data, bench=bench)
    assert eval_cli(argv) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"{data} record 1" in line, line


def _cli(argv, timeout=60, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "ovlt_eval.cli", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        **kwargs,
    )


def test_a_fifo_in_the_data_folder_is_refused_not_waited_on(tmp_path):
    folder = tmp_path / "mathvision"
    folder.mkdir()
    os.mkfifo(folder / "testmini.jsonl")  # nobody ever writes: an open() would wait forever
    proc = _cli(_run_args(tmp_path / "out", "http://127.0.0.1:9/v1", data=folder))
    assert proc.returncode == 2
    assert "not a regular file" in _one_line(proc.stderr)


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_data_that_is_no_regular_file_says_so(target, tmp_path, capsys):
    if target == "fifo":
        target = tmp_path / "data.jsonl"
        os.mkfifo(target)
    assert eval_cli(_run_args(tmp_path / "out", "http://127.0.0.1:9/v1", data=target)) == 2
    line = _one_line(capsys.readouterr().err)
    assert "not a regular file" in line and "does not exist" not in line, line


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@pytest.mark.parametrize("size", [2 << 30, 64 << 20], ids=["2GB", "64MB"])
def test_a_sparse_data_file_is_refused_without_reading_it_whole(size, tmp_path):
    data = tmp_path / "testmini.jsonl"
    with open(data, "wb") as fh:
        fh.truncate(size)  # all NUL bytes, no disk used
    # 1 GiB of address space: reading the 2 GB file into memory (as json.load did) fails
    proc = _cli(
        _run_args(tmp_path / "out", "http://127.0.0.1:9/v1", data=data), preexec_fn=_limit_memory
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    line = _one_line(proc.stderr)
    assert str(data) in line and ("NUL" in line or "MiB" in line), line


# ------------------------------------------------------------------------- hostile servers


def _completion(content: str) -> str:
    return json.dumps(
        {"choices": [{"index": 0, "finish_reason": "stop", "message": {"content": content}}]}
    )


def _run_with_bad_item(tmp_path, monkeypatch, reply, *extra):
    monkeypatch.setattr(transport, "MAX_REPLY_BYTES", 1 << 20)
    with OpenAIServer(raw=lambda p: reply() if "different digits" in p else None) as server:
        out = tmp_path / "out"
        started = time.monotonic()
        code = eval_cli(_run_args(out, server.base_url, "--request-timeout", "20", *extra))
        return code, out, time.monotonic() - started


def test_a_reply_body_over_the_limit_is_one_error_item(tmp_path, monkeypatch, capsys):
    huge = _completion("<answer>6</answer>" + "x" * (2 << 20))  # a valid completion of 2 MiB
    code, out, _ = _run_with_bad_item(tmp_path, monkeypatch, lambda: (200, huge))
    assert code == 1
    records = _records(out)
    assert records[BAD_ITEM]["status"] == "error" and "over 1 MiB" in records[BAD_ITEM]["error"]
    assert all(r["status"] != "error" for i, r in records.items() if i != BAD_ITEM)


def test_an_endless_chunked_body_is_cut_off_not_read_until_the_timeout(
    tmp_path, monkeypatch, capsys
):
    def endless():
        chunk = b"x" * 65536
        while True:
            yield chunk

    code, out, took = _run_with_bad_item(tmp_path, monkeypatch, lambda: (200, endless()))
    assert code == 1
    records = _records(out)
    assert records[BAD_ITEM]["status"] == "error" and "over 1 MiB" in records[BAD_ITEM]["error"]
    assert took < 20  # the request timeout; the cap ends it long before


def test_a_redirect_is_not_followed_to_another_host(tmp_path, monkeypatch, capsys):
    with OpenAIServer() as elsewhere:
        where = f"{elsewhere.base_url}/chat/completions"
        code, out, _ = _run_with_bad_item(
            tmp_path, monkeypatch, lambda: (307, "", "text/plain", {"Location": where})
        )
        assert elsewhere.stats.requests == 0  # the prompt and its image went nowhere else
    assert code == 1
    error = _records(out)[BAD_ITEM]["error"]
    assert "redirect" in error and "--base-url" in error, error


@pytest.mark.parametrize("data", ["null", "5", '"fake-model"', '{"id": "fake-model"}'])
def test_a_models_reply_without_a_list_is_one_line(data, tmp_path, capsys):
    with OpenAIServer(models_raw=(200, f'{{"object": "list", "data": {data}}}')) as server:
        assert eval_cli(_run_args(tmp_path / "out", server.base_url)) == 2
    assert "did not answer with a model list" in _one_line(capsys.readouterr().err)


def test_a_models_redirect_is_one_line(tmp_path, capsys):
    with OpenAIServer(
        models_raw=(302, "", "text/plain", {"Location": "http://x.invalid/v1/"})
    ) as s:
        assert eval_cli(_run_args(tmp_path / "out", s.base_url)) == 2
    line = _one_line(capsys.readouterr().err)
    assert "redirected to http://x.invalid/v1/" in line, line


# ------------------------------------------------------------------------------ run folders


def test_out_that_is_a_file_or_a_dangling_link_is_one_line(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "missing")
    for out, says in ((afile, "is a file"), (dangling, "symlink to a missing folder")):
        assert eval_cli(_run_args(out, "http://127.0.0.1:9/v1")) == 2
        assert says in _one_line(capsys.readouterr().err)
    assert afile.read_text() == "keep me"


@pytest.fixture()
def finished_run(tmp_path):
    with OpenAIServer() as server:
        out = tmp_path / "run"
        assert eval_cli(_run_args(out, server.base_url)) == 0
        yield out, server


@pytest.mark.parametrize("name", ["samples.jsonl", "eval_card.json"])
@pytest.mark.parametrize("overwrite", [False, True], ids=["resume", "overwrite"])
def test_a_folder_where_a_run_file_should_be_is_one_line_and_kept(
    name, overwrite, finished_run, capsys
):
    out, server = finished_run
    (out / name).unlink()
    (out / name).mkdir()
    (out / name / "precious.txt").write_text("mine")
    capsys.readouterr()
    argv = _run_args(out, server.base_url, *(["--overwrite"] if overwrite else []))
    assert eval_cli(argv) == 2
    assert str(out / name) in _one_line(capsys.readouterr().err)
    assert (out / name / "precious.txt").read_text() == "mine"


@pytest.mark.parametrize("status", ['["ok"]', "null", "5", '{"a": 1}'])
def test_a_samples_line_whose_status_is_not_text_stops_the_resume_with_one_line(
    status, finished_run, capsys
):
    out, server = finished_run
    samples = out / "samples.jsonl"
    first = json.loads(samples.read_text().splitlines()[0])
    with open(samples, "a") as fh:
        fh.write(json.dumps({**first, "status": json.loads(status)}) + "\n")
    capsys.readouterr()
    assert eval_cli(_run_args(out, server.base_url)) == 2
    assert f"{samples}:4: this line has a 'status' that is not text" in _one_line(
        capsys.readouterr().err
    )


@pytest.mark.parametrize("size", [2 << 30, 64 << 20], ids=["2GB", "64MB"])
def test_a_sparse_predictions_file_is_refused_without_reading_it_whole(size, tmp_path):
    predictions = tmp_path / "predictions.jsonl"
    with open(predictions, "wb") as fh:
        fh.truncate(size)
    argv = [
        "score", "--bench", "mathvision", "--data", str(SAMPLE), "--predictions",
        str(predictions), "--out", str(tmp_path / "scored"),
    ]  # fmt: skip
    proc = _cli(argv, preexec_fn=_limit_memory)
    assert proc.returncode == 2, proc.stderr[-2000:]
    line = _one_line(proc.stderr)
    assert str(predictions) in line and ("NUL" in line or "MiB" in line), line


@pytest.mark.parametrize(
    "flag, value", [("--temperature", "nan"), ("--temperature", "inf"), ("--top-p", "-1")]
)
def test_sampling_values_that_are_not_json_numbers_are_one_line(flag, value, tmp_path, capsys):
    with OpenAIServer() as server:
        assert eval_cli(_run_args(tmp_path / "out", server.base_url, flag, value)) == 2
        assert server.stats.requests == 0
    assert flag in _one_line(capsys.readouterr().err)


def test_a_judge_that_failed_on_every_item_is_not_a_complete_run(tmp_path, capsys):
    from ovlt_eval import evaluate
    from ovlt_eval.api import Judge

    with OpenAIServer() as server, OpenAIServer(fail=lambda prompt: 400) as judge:
        argv = _run_args(
            tmp_path / "out", server.base_url, "--judge-base-url", judge.base_url,
            "--judge-model", "judge", "--request-timeout", "5",
        )  # fmt: skip
        assert eval_cli(argv) == 1
        err = capsys.readouterr().err
        assert "the judge failed on 3 items" in err and "Traceback" not in err, err
        result = evaluate(
            "fake-model", "mathvision", engine="openai", base_urls=[server.base_url],
            data=str(SAMPLE), limit=3, out=tmp_path / "api", progress=False,
            judge=Judge(base_urls=(judge.base_url,), model="judge"),
        )  # fmt: skip
    assert result["mathvision"].complete is False


@pytest.mark.parametrize("bench", ["mathvista", "mathvision"])
def test_choices_written_as_text_are_parsed_not_split_into_characters(bench, tmp_path):
    from ovlt_eval.benchmarks import get_benchmark

    field, row = ("choices", MATHVISTA_ROW) if bench == "mathvista" else ("options", MATHVISION_ROW)
    row = {**row, field: "['12', '15']", "answer": "12" if bench == "mathvista" else "A"}
    if bench == "mathvista":
        row["question_type"] = "multi_choice"
    data = tmp_path / ("testmini.json" if bench == "mathvista" else "testmini.jsonl")
    data.write_text(json.dumps([row]) if bench == "mathvista" else json.dumps(row))
    (item,) = get_benchmark(bench).load("testmini", data)
    assert item.choices == ("12", "15")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:99999/v1", "http://127.0.0.1:abc/v1", "ftp://127.0.0.1/v1", "v1"]
)
def test_a_base_url_that_is_no_http_url_is_one_line(url, tmp_path, capsys):
    assert eval_cli(_run_args(tmp_path / "out", url)) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"--base-url {url!r} is not" in line, line


def test_a_giant_eval_card_is_refused_without_reading_it(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with open(out / "eval_card.json", "wb") as fh:
        fh.truncate(2 << 30)
    proc = _cli(_run_args(out, "http://127.0.0.1:9/v1"), preexec_fn=_limit_memory)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "is not a valid eval card" in _one_line(proc.stderr)
