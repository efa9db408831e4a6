"""Keep a few extreme pixels (saturated, hot, dead) from wrecking a network's whole tile.

A network sees the image normalised by its 0.1-99.9 percentiles (``inference.Normalization``),
so a 65535 pixel in a background of 103-119 became ~3850, far outside anything it was trained
on; its coarse scales spread the damage over the tile (a 128 px crop with 5 such pixels came
out at 17x its background). The network's input is clipped to ``NETWORK_INPUT_RANGE`` and
what was clipped off is added back to its output, so those pixels keep their value and the
result is continuous where a structure crosses the limit.

The range is measured (tests/test_saturation_2026_12_05.py and the report behind it):
c2f_unet.em_v2's output 8 px away from 5 pixels set to 5, 6, 10 times the percentile span
changed by 0.35, 0.81, 4.2 spans (fluorescence_v2: 0.05, 0.11, 0.88), while 238 test-split
images (raw and protocol A) normalised to -0.29 .. 2.53. Classical methods are not clipped:
they are linear in the image, or nearly so.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

__all__ = ["NETWORK_INPUT_RANGE", "clip_and_record", "clip_note", "clipped_forward", "clips",
           "count_beyond"]

#: (low, high) of a network's input in normalised units (0 and 1: the 0.1 and 99.9
#: percentiles); pixels beyond are clipped for the network and their excess added back
NETWORK_INPUT_RANGE = (-3.0, 4.0)


def clips(method, norm) -> bool:
    """Whether a run of ``method`` with ``norm`` clips the network's input: networks (not
    classical methods) on percentile-normalised input."""
    return not method.is_classical and norm.kind == "percentile"


def clipped_forward(forward: Callable[[torch.Tensor], torch.Tensor],
                    low: float = NETWORK_INPUT_RANGE[0], high: float = NETWORK_INPUT_RANGE[1]):
    """``forward`` on its input clipped to [low, high], the clipped-off excess added back to its
    output (where the output has the input's shape); a batch within range runs unchanged."""

    def run(x: torch.Tensor) -> torch.Tensor:
        held = x.clamp(low, high)
        if torch.equal(held, x):  # the usual case: bit-identical to the network alone
            return forward(x)
        y = forward(held)
        if y.shape != x.shape:  # another channel count: no pixel to give the excess to
            return y
        return y + (x - held).to(y.device, y.dtype)

    return run


def count_beyond(sample: np.ndarray, norm) -> int:
    """How many pixels of ``sample`` (in the image's units) ``norm`` maps beyond the range."""
    low, high = NETWORK_INPUT_RANGE
    x = norm.apply(sample)
    return int(np.count_nonzero((x < low) | (x > high)))


def clip_note(count: int, sampled: int, total: int, norm) -> str:
    """The line a network run gives when ``count`` of ``sampled`` pixels (of ``total``) lie
    beyond the range; '' when none do."""
    if count == 0:
        return ""
    low, high = (norm.undo(np.float32(v)) for v in NETWORK_INPUT_RANGE)
    many = f"{count}" if sampled == total else f"about {round(count * total / sampled)}"
    return (f"{many} pixel{'s' * (many != '1')} lie outside {low:.4g} .. {high:.4g} (saturated, "
            "hot or dead pixels?): the network saw them clipped to that range, which keeps them "
            "from disturbing the pixels around them, and their excess was added back unchanged")


def clip_and_record(sample: np.ndarray, shape, method, norm):
    """``method`` with the pixels its network input clips recorded in its parameters (the
    result's and the provenance record's: 'input_clipped'), and one warning line saying how
    many; ``method`` unchanged where none are. ``sample``: the image's statistics sample (in
    its units), ``shape`` the whole image's."""
    import math
    import warnings
    from dataclasses import replace

    from . import notes

    count = count_beyond(sample, norm)
    if not count:
        return method
    total = math.prod(shape)
    warnings.warn(clip_note(count, sample.size, total, norm), notes.DeblurWarning, stacklevel=3)
    limits = [float(norm.undo(np.float32(v))) for v in NETWORK_INPUT_RANGE]
    return replace(method, parameters=method.parameters | {
        "input_clipped": {"pixels": round(count * total / sample.size), "range": limits}})
