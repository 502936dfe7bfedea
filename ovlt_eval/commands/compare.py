"""`ovlt-eval compare` — not implemented yet."""

from ovlt_eval.errors import UserError


def add_arguments(parser):
    pass


def run(args):
    raise UserError("'compare' is not available yet")
