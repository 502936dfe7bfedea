"""A loopback OpenAI-compatible server that answers instantly (or after `latency` seconds).

For tests and benches of the data factory: replies are a deterministic function of the request
(messages, choice index), so a resumed build that re-asks a question gets the same text. Reasoning
replies look like an R1 trace (`<think>`, reflections with "Wait,", `\\boxed{}`, `<answer>`), with answers
drawn from a small range so some samples are right and some wrong: every stage has work.

    python -m ovlt_data.loopback --port 0 --latency 0.05   # prints the URL on stdout
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FILLER = (
    "First I look at the figure and note the relevant quantities. Then I relate them to what "
    "the question asks, step by step, checking each value I read. "
).split()


def reply_text(messages: list, index: int, seed) -> str:
    blob = json.dumps(messages, sort_keys=True) + f"|{index}|{seed}"
    rng = random.Random(hashlib.sha256(blob.encode()).hexdigest())
    text = " ".join(
        p.get("text", "")
        for m in messages
        for p in (
            m.get("content")
            if isinstance(m.get("content"), list)
            else [{"text": m.get("content") or ""}]
        )
        if isinstance(p, dict)
    )
    if "detailed description" in text:
        return f"The image shows a simple figure with shapes, labels and numbers (view {rng.randint(0, 9)})."
    if "Choices:" in text:
        letters = [c for c in "ABCDE" if f"({c})" in text] or ["A"]
        answer = rng.choice(letters)
    else:
        answer = str(rng.randint(1, 9))
    n = rng.choice((20, 40, 80, 160, 700))  # a few traces exceed the 500-word limit
    body = " ".join(FILLER[i % len(FILLER)] for i in range(n))
    reflect = (
        " Wait, let me double-check the reading. It is consistent." if rng.random() < 0.5 else ""
    )
    # the OpenVLThinker reply format: a conclusion, then the answer tag the reward reads
    return (
        f"<think>\n{body}{reflect}\n</think>\nSo the final answer is \\boxed{{{answer}}}.\n"
        f"<answer>{answer}</answer>"
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    latency = 0.0
    model = "loopback"

    def log_message(self, *a):  # quiet
        pass

    def _send(self, code: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.rstrip("/").endswith("/models"):
            self._send(
                200,
                {
                    "object": "list",
                    "data": [{"id": self.model, "object": "model", "owned_by": "ovlt"}],
                },
            )
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        req = json.loads(self.rfile.read(length) or b"{}")
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": "not found"})
            return
        if self.latency:
            time.sleep(self.latency)
        n = int(req.get("n") or 1)
        choices = [
            {
                "index": i,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": reply_text(req.get("messages", []), i, req.get("seed")),
                },
            }
            for i in range(n)
        ]
        self._send(
            200,
            {
                "id": "cmpl-loopback",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": req.get("model", self.model),
                "choices": choices,
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
        )


def serve(
    port: int = 0, latency: float = 0.0, model: str = "loopback"
) -> tuple[ThreadingHTTPServer, str]:
    handler = type("Handler", (_Handler,), {"latency": latency, "model": model})
    server_cls = type(
        "Server", (ThreadingHTTPServer,), {"request_queue_size": 256}
    )  # default 5 stalls bursts
    server = server_cls(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--model", default="loopback")
    a = ap.parse_args(argv)
    server, url = serve(a.port, a.latency, a.model)
    print(url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
