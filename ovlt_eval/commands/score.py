"""`ovlt-eval score` — not implemented yet."""

from ovlt_eval.errors import UserError


def add_arguments(parser):
    pass


def run(args):
    raise UserError("'score' is not available yet")
