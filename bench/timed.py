"""Run a command under GNU `/usr/bin/time -v`: its result, wall clock and peak RSS."""

from __future__ import annotations

import re
import subprocess


def run_timed(cmd: list[str], **kwargs) -> tuple[subprocess.CompletedProcess, str, int | None]:
    """(the finished process, wall clock as `time` prints it, peak RSS in MiB or None)."""
    done = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, **kwargs)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", done.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return done, wall.group(1) if wall else "?", int(rss.group(1)) // 1024 if rss else None
