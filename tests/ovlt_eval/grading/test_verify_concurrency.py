"""Same verdicts on the main thread, in a thread pool, in a process pool and in daemonic
multiprocessing workers (where Math-Verify's SIGALRM timeout would raise or misbehave)."""

import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from ovlt_eval.grading import verify
from ovlt_eval.grading.timeout import run_symbolic


def _verdict(row: dict):
    v = verify(
        row["gold"],
        row["pred"],
        row["kind"],
        choices=row.get("choices"),
        precision=row.get("precision"),
        unit=row.get("unit"),
    )
    return (v.correct, v.status)


def _verdicts(rows: list[dict]) -> list:
    return [_verdict(r) for r in rows]


def test_thread_pool_and_process_pool_agree(golden):
    with ThreadPoolExecutor(max_workers=8) as ex:
        threaded = list(ex.map(_verdict, golden))
    chunks = [golden[i::2] for i in range(2)]
    with ProcessPoolExecutor(max_workers=2) as ex:
        parts = list(ex.map(_verdicts, chunks))
    in_processes = [None] * len(golden)
    for i, part in enumerate(parts):
        in_processes[i::2] = part
    assert in_processes == threaded
    # and both are the table's answers (the serial run is test_verify_golden)
    assert [c for c, _ in threaded] == [r["expected"] for r in golden]
    assert all(s == r.get("status", s) for (_, s), r in zip(threaded, golden, strict=True))


def test_daemonic_pool_worker_can_verify_symbolically():
    # multiprocessing.Pool workers are daemonic: they may not start multiprocessing children,
    # so the symbolic workers must come from subprocess.
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as p:
        got = p.apply(_verdict, ({"gold": "x^2-1", "pred": "(x-1)(x+1)", "kind": "auto"},))
    assert got == (True, "ok")


def test_symbolic_verify_off_the_main_thread():
    out = {}

    def work():
        out["v"] = verify("\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}")

    t = threading.Thread(target=work)
    t.start()
    t.join(60)
    assert out["v"].correct and out["v"].status == "ok"


def test_signal_proof_stall_is_killed_and_the_pool_recovers():
    start = time.monotonic()
    reply = run_symbolic({"op": "hold", "seconds": 60}, timeout_s=0.3)
    elapsed = time.monotonic() - start
    assert reply == {"status": "timeout", "detail": "killed"}
    assert elapsed < 5
    assert verify("x+x", "2x").correct  # a fresh worker takes over


def test_soft_timeout_reports_timeout_status():
    # Bypasses the cheap guards on purpose: the worker's own alarm must answer in time.
    reply = run_symbolic({"op": "verify", "gold": "1", "pred": "10^{10^{10}}"}, timeout_s=0.3)
    assert reply["status"] in ("timeout", "unparseable")
