"""Licences of trained weights: what a card states when weights are trained further on data
under another licence (fine-tuning, `train --weights`), and the words that state none."""

from __future__ import annotations

__all__ = ["UNASSERTED_LICENSES", "joined_license"]

#: licences that assert nothing: a card's default 'unknown' and SPDX's NOASSERTION
UNASSERTED_LICENSES = ("", "UNKNOWN", "NOASSERTION", "NONE")


def joined_license(start: str, data: str) -> str:
    """The licence of weights under ``start`` trained further on data under ``data``: both as
    an SPDX AND ('BSD-3-Clause AND NOASSERTION' where the data's states none, 'NOASSERTION AND
    CC0-1.0' where the start's does: the data's terms had been dropped); one of them where the
    other adds nothing (the same licence, or neither states one). An unasserted side is
    written NOASSERTION ('unknown AND X' is no SPDX expression)."""
    start_unasserted = start.upper() in UNASSERTED_LICENSES
    data_unasserted = data.upper() in UNASSERTED_LICENSES
    if data == start or data in start.split(" AND ") or (start_unasserted and data_unasserted):
        return start
    start = "NOASSERTION" if start_unasserted else start
    data = "NOASSERTION" if data_unasserted else data
    return f"{f'({start})' if ' OR ' in start else start} AND {data}"
