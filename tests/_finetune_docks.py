"""Shared by the Fine-tune dock tests."""

from dataclasses import replace


def any_gain_counts(w) -> None:
    """The dock ``w``'s runs validate every step and keep trained weights that beat the start
    by any margin: a run stopped after a few steps had validated none of them (or not by the
    default 0.1 dB), and a run that keeps the starting weights adds no method and fills no
    comparison."""
    build = w.build_request
    w.build_request = lambda: replace(build(), min_gain_db=0.0, val_every=1)
