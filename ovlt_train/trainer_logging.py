"""Where a trainer's output goes: its log lines to `train_log.jsonl` beside the checkpoint, not
as raw dicts on stdout; progress bars only when asked for.

transformers prints every `logging_steps` record as a Python dict (ProgressCallback writes it
through the bar, PrinterCallback with print) — a hundred such lines bury the loop's own output.
"""

from __future__ import annotations

import json
from pathlib import Path

LOG_NAME = "train_log.jsonl"


def route_logs(trainer, out_dir: str | Path, *, progress: bool) -> Path:
    """Send the trainer's log records to `out_dir/train_log.jsonl`; keep a bar only if
    `progress`. Returns the log file's path."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback, TrainerCallback

    path = Path(out_dir) / LOG_NAME

    class JsonlLog(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("")  # a resumed stage starts its log afresh

        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs:
                with path.open("a") as fh:
                    fh.write(json.dumps({"step": state.global_step, **logs}, default=str) + "\n")

    class BarOnly(ProgressCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            pass  # the record is in train_log.jsonl

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if progress:
        trainer.add_callback(BarOnly)
    trainer.add_callback(JsonlLog())
    return path
