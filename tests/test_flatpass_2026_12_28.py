"""A computed plane that happens to be flat is counted in the clip line like any other: only
a flat plane the run passes through (``flat_planes.write_flat``, the input's own values,
written in the output's own type) is left out (``total_check.SummedWrites``)."""

from __future__ import annotations

import numpy as np
import torch

from napari_microdeblur.core import output_cast
from napari_microdeblur.core.inference import Method, deblur


def _zero_or_tripled(x):
    """A Method of one's own: the dim plane comes back all 0.0, the other overshoots."""
    return torch.stack([t * 0 if float(t.mean()) < 60 else t * 3.0 for t in x])


def _stack() -> np.ndarray:
    rng = np.random.default_rng(0)
    stack = (rng.random((2, 64, 64)) * 100 + 50).astype(np.uint8)
    stack[0] = (rng.random((64, 64)) * 10 + 50).astype(np.uint8)  # mean under 60
    return stack


def test_computed_flat_plane_is_counted_in_the_clip_line():
    stack = _stack()
    method = Method("zero-or-tripled", forward=_zero_or_tripled, halo=0, normalization="none")
    with output_cast.open_tally(output_cast.OutputCast()) as tally:
        out = deblur(stack, method=method, axes="ZYX", output_dtype="input", device="cpu")
    # both planes are the method's result: every value counted, not the overshooting half's
    assert tally.values == stack.size
    tripled = stack[1].astype(np.float64) * 3
    assert tally.above == int((tripled > 255).sum()) and tally.below == 0
    assert not out[0].any()  # the output itself is as before, bit for bit
    assert np.array_equal(out[1], np.clip(np.rint(tripled), 0, 255).astype(np.uint8))


def test_flat_plane_passed_through_is_still_not_counted():
    stack = _stack()
    stack[0] = 77  # a flat input plane: passed through by the package's methods
    with output_cast.open_tally(output_cast.OutputCast()) as tally:
        out = deblur(stack, method="wiener", psf="gaussian:1.5", axes="ZYX",
                     output_dtype="input", device="cpu")
    assert tally.values == stack[1].size
    assert np.array_equal(out[0], stack[0])
