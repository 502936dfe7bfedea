"""User-facing errors: printed as one actionable line, exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import errno


class UserError(Exception):
    """A mistake the user can fix (bad flag, missing file, unknown name)."""


# OSErrors the user's disk or permissions cause, not the program: a full disk or quota, a
# read-only or unwritable folder, a file where a folder should be. Anything else (ENOENT from
# a bug, EBADF, ...) keeps its traceback.
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_NO_WRITE = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR}


def storage_error(err: BaseException, where: object = None) -> str | None:
    """One line for a disk or permission OSError, naming its path (or `where`, the output the
    command was writing, when the error has none: pyarrow's and SQLite's), or None for any
    other error."""
    if not isinstance(err, OSError) or err.errno not in _NO_SPACE | _NO_WRITE:
        return None
    path = err.filename or where
    where = f"{path}: " if path else ""
    what = err.strerror or str(err)
    if err.errno in _NO_SPACE:
        return f"{where}{what}; free some space, then run the same command again"
    return f"{where}{what}; check that folder's permissions or choose another output folder"


def report_storage_error(prog: str, err: BaseException, args: object = None) -> int:
    """The CLIs' top-level handler: print the one line and return exit code 2, or re-raise
    when `err` is not a storage error (a programming error keeps its traceback). `args`: the
    parsed command line, whose `--out` (or `--html`) names the path when the error does not."""
    import sys

    line = storage_error(err, getattr(args, "out", None) or getattr(args, "html", None))
    if line is None:
        raise err
    print(f"{prog}: error: {line}", file=sys.stderr)
    return 2


def at_least(low: int):
    """argparse `type=` for a whole number >= low: `--items 0` is argparse's one-line error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is below {low}")
        return value

    parse.__name__ = f"whole number >= {low}"
    return parse


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Every option's default in --help, where there is one to show (not None / off / empty)
    and the help text does not already say it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "default" not in text
            and action.default not in (None, False, [], argparse.SUPPRESS)
            and action.option_strings
        ):
            text += " (default: %(default)s)"
        return text


class OneLineParser(argparse.ArgumentParser):
    """argparse prints its whole usage block before a bad flag's message; a user who typed
    `--max-pixels abc` wants the one line that says what is wrong (exit 2, as argparse).
    Sub-command parsers inherit the class (argparse makes them with `type(self)`)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# Optional libraries -> the pyproject extra that installs them (`pip install -e '.[EXTRA]'`).
EXTRA_OF_MODULE = {
    "torch": "hf",
    "torchvision": "hf",
    "transformers": "hf",
    "accelerate": "hf",
    "trl": "train",
    "peft": "train",
    "matplotlib": "data",
    "vllm": "vllm",
    "deepspeed": "gpu",
    "flash_attn": "gpu",
}


def missing_extra(err: ModuleNotFoundError) -> str | None:
    """One line naming the extra that installs a missing optional library, or None for any
    other missing module (a bug keeps its traceback)."""
    top = (err.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    if extra is None:
        return None
    return (
        f"this command needs {top}, which is not installed: pip install -e '.[{extra}]' "
        f"(from a checkout) or pip install 'ovlt[{extra}]'"
    )


def require_module(module: str, what: str) -> None:
    """Fail before work starts when `what` (a card setting, a launcher) needs an optional
    library that is not installed: one line naming the extra."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        line = missing_extra(ModuleNotFoundError(name=module))
        raise UserError(f"{what}: {line}")


def _quiet_stdout() -> None:
    import os
    import sys

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail
    except (OSError, ValueError):
        pass


def run_command(prog: str, args: object, call, *, on_interrupt: str) -> int:
    """How every CLI runs its sub-command: a UserError is one line (secrets in it redacted) and
    exit 2; a full disk or unwritable folder is one line and exit 2 (other OSErrors keep their
    traceback); Ctrl-C says what resumes, exit 130."""
    import sys

    try:
        rc = int(call() or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return rc
    except ModuleNotFoundError as err:
        line = missing_extra(err)
        if line is None:
            raise
        print(f"{prog}: error: {line}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `ovlt-data inspect DIR | head -1`: the reader left; what it read was what it wanted.
        _quiet_stdout()
        return 0
    except UserError as err:
        from ovlt_eval.redact import redact_text  # a message may quote a URL with its key

        print(f"{prog}: error: {redact_text(str(err))}", file=sys.stderr)
        return 2
    except OSError as err:
        return report_storage_error(prog, err, args)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; {on_interrupt}", file=sys.stderr)
        return 130


def run_script(main) -> int:
    """`scripts/*.py` and `bench/*.py` run as the CLIs do: a user's mistake (a wrong path, an
    unknown benchmark, a bad model) is one line and exit 2, never a traceback."""
    import sys
    from pathlib import Path

    prog = Path(sys.argv[0]).name
    return run_command(prog, None, main, on_interrupt="run it again")
