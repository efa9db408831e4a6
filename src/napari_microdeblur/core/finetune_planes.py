"""RGB or multichannel fine-tuning pairs as grayscale planes (``core.finetune``): a PSF-aware
network trains on the luminance and chroma planes it deconvolves RGB in, other networks on one
pair per channel; and the in-focus plane a z-stack's planes are paired to (``stack_focus``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import pairs
from .psf_aware import OPPONENT_PARTS, to_opponent

__all__ = ["channel_planes", "opponent_planes", "stack_focus"]


def opponent_planes(pair_list: Sequence[pairs.Pair]) -> list[pairs.Pair]:
    """RGB pairs as three grayscale pairs each: luminance and two chroma planes, the opponent
    colour space a PSF-aware network deconvolves RGB in (``psf_aware.OPPONENT``). Each keeps
    its pair's group and reference scale (a chroma plane's reference offset centres it on 0.5,
    as its model units are); validation PSNR is then the mean over the three planes."""
    import torch

    out = []
    for p in pair_list:
        both = torch.from_numpy(np.stack([p.input, p.target]))
        x, y = to_opponent(both).numpy()
        scale, offset = p.to_reference
        for k, part in enumerate(OPPONENT_PARTS):
            ref = (scale, offset) if k == 0 else (scale, 0.5 - 0.5 * scale)
            out.append(pairs.Pair(x[k : k + 1].copy(), y[k : k + 1].copy(), p.group, ref,
                                  {**p.info, "colour_plane": part}))
    return out


def channel_planes(pair_list: Sequence[pairs.Pair]) -> list[pairs.Pair]:
    """Multichannel pairs as one grayscale pair per channel, each keeping its pair's group
    and reference scale (validation PSNR is then the mean over the channels)."""
    return [pairs.Pair(p.input[c : c + 1].copy(), p.target[c : c + 1].copy(), p.group,
                       p.to_reference, {**p.info, "channel": c})
            for p in pair_list for c in range(p.channels)]


def stack_focus(field) -> tuple[int, int]:
    """(in-focus plane, plane count) of a ``StackField``: its ``focus``, or for 'auto' the
    plane of the best focus score (``focus.best_focus_plane``), as the job finds it; a caller
    that gives the job this index has it said before training (the command line said
    nothing, and picked plane 0 of a light-sheet stack's 9)."""
    from .focus import best_focus_plane

    shape = tuple(int(n) for n in np.shape(field.stack))
    axes = pairs.check_focus_stack(shape, field.axes, field.focus)
    focus = (best_focus_plane(np.asarray(field.stack), axes) if field.focus == "auto"
             else int(field.focus))
    return focus, shape[axes.index("Z")]
