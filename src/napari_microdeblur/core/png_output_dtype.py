"""A float32 output asked for by name where the output is a PNG, refused before any work: PNG
holds 8- or 16-bit integers, so ``microdeblur deblur in.png -o x.png --output-dtype float32``
(or ``deblur_file(..., "x.png", output_dtype="float32")``) wrote the input's 8 bits with no
word that the option was not followed. Only an option given counts: float32 is the default,
and a PNG left to it holds the input's 8 or 16 bits (``io_write.png_dtype``), as documented.
Here, not in ``io_write``, which is at its size limit."""

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
