"""A mistyped flag or value is one line on stderr (exit 2), in every CLI: argparse alone would
print its whole usage block first."""

import pytest

from ovlt_data.cli import main as data_cli
from ovlt_eval.cli import main as eval_cli
from ovlt_train.cli import main as train_cli

CASES = {
    "eval: bad int": (eval_cli, ["run", "--max-pixels", "abc"], "invalid int value: 'abc'"),
    "eval: unknown flag": (eval_cli, ["compare", "x", "--nope"], "unrecognized arguments"),
    "eval: bad choice": (eval_cli, ["run", "--engine", "nope"], "invalid choice: 'nope'"),
    "data: missing required": (data_cli, ["build"], "one of the arguments --round --card"),
    "data: bad choice": (data_cli, ["export", "x", "--format", "csv"], "invalid choice"),
    "train: unknown flag": (train_cli, ["sft", "--nope"], "unrecognized arguments"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_flag_is_one_line(case, capsys):
    cli, argv, needle = CASES[case]
    with pytest.raises(SystemExit) as exit_:
        cli(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err and "--help" in err, err
