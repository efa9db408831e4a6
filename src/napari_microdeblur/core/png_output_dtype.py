"""An output dtype a PNG output will not hold, refused before any work: PNG holds the input's
8 or 16 bits (``io_write.png_dtype``), so ``microdeblur deblur in.png -o x.png --output-dtype
float32`` (or ``deblur_file(..., "x.png", output_dtype=...)`` with float32, float64, uint16 on an
8-bit input, or a misspelt name) wrote the input's 8 bits with no word that the option was not
followed, where a .tif output refuses each. Only an option given counts for float32: it is the
default, and a PNG left to it holds the input's 8 or 16 bits, as documented. 'input' and the
input's own type are what the PNG holds, so they pass. Here, not in ``io_write``, which is at
its size limit."""

from __future__ import annotations

import numpy as np

from .shown import shown_path


def refuse_float32_png(output, output_dtype, spelled: str, leave_out: str) -> None:
    """ValueError where ``output`` is a .png and ``output_dtype`` (as given; None: not given)
    is float32; ``spelled``: the option as the caller's user typed it, ``leave_out`` its
    name, for the one line that says what to change."""
    if output_dtype is None or not str(output).lower().endswith(".png"):
        return
    try:
        asked = np.dtype(output_dtype) == np.float32
    except TypeError:  # 'input', or anything output_dtype_word refuses later in its words
        return
    if asked:
        raise ValueError(f"output {shown_path(output)}: PNG holds 8- or 16-bit integers, not "
                         f"the float32 of {spelled}; write .tif for float32, or leave "
                         f"{leave_out} out for a PNG of the input's 8 or 16 bits")


def refuse_unheld_png_dtype(output, asked, stored, *, by_name: bool) -> None:
    """ValueError, in one line, where the .png ``output``, which holds ``stored`` (the input's
    uint8 or uint16, ``io_write.png_dtype``), would not hold the ``output_dtype`` a Python
    caller ``asked``: anything but 'input' or the input's own type (either byte order).
    ``by_name``: given as ``output_dtype=``, where float32 too is refused; a ``TilingSpec``'s
    'float32' is its default, which a PNG takes as the input's bits."""
    if isinstance(asked, str) and (asked == "input" or (asked == "float32" and not by_name)):
        return
    try:  # None is not a dtype here (np.dtype(None) is float64)
        dtype = None if asked is None else np.dtype(asked)
    except (TypeError, ValueError):
        dtype = None
    if dtype == np.float32:
        refuse_float32_png(output, dtype, "output_dtype='float32'", "output_dtype")
    stored = np.dtype(stored)
    if dtype is not None and dtype.newbyteorder("=") == stored.newbyteorder("="):
        return
    shown = repr(asked) if isinstance(asked, str) or dtype is None else f"np.{dtype.name}"
    what = f"output_dtype={shown}" if dtype is None else f"the {dtype.name} of output_dtype={shown}"
    bits = f"{stored.itemsize * 8} bits"
    raise ValueError(f"output {shown_path(output)}: PNG holds the input's {bits} ({stored.name}), "
                     f"not {what}; leave output_dtype out (or give 'input') for a PNG of the "
                     f"input's {bits}, or write .tif with output_dtype='float32' for float32")
