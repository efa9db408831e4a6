"""How ``metrics.evaluate`` reads an image's axes: ``axes=`` in deblur's letters ('YX', 'ZYX',
'CYX', 'YXS', ...) scores it as ``microdeblur evaluate`` scores a file of those axes (a C or S
axis pooled into one mean error, each C channel also on its own range: ``channel_metrics``).

Given no axes, every axis before Y, X is a plane: a (3, Y, X) CYX pair scored 43.37 dB for
Wiener where the command, reading CYX from the files, said 33.48; a first axis of 2 to 4 is
warned about, in the words deblur's guess uses (``axes.guess_note``)."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from .axes import channel_index, check_axes, guess_note
from .notes import DeblurWarning

__all__ = ["evaluate_layout", "leading_axis_note", "check_border", "fitting_border",
           "border_scores", "axes_extras", "host_array"]

#: How the leading-axis warning says to give axes: as Python deblur's guess note says it
_GIVE = "give axes={0!r}"
#: What it adds: how a real stack of a few planes says so
_PLANES_SAID = "; for planes, axes={0!r} says so (and this warning goes)"


def leading_axis_note(shape) -> str | None:
    """One line where ``evaluate``, given no axes, scores a first axis of 2 to 4 (more likely
    channels) as planes, each alone: deblur's guess words for (3, Y, X); None otherwise."""
    shape = tuple(int(n) for n in shape)
    if len(shape) not in (3, 4) or not 2 <= shape[0] <= 4:
        return None
    if len(shape) == 3:
        return f"evaluate: {guess_note(shape, 'ZYX', _GIVE)}{_PLANES_SAID.format('ZYX')}"
    return (f"evaluate: axes TZYX assumed for shape {shape}: its first axis ({shape[0]}) is read "
            f"as time points, each plane scored alone; if it holds channels, "
            f"{_GIVE.format('CZYX')}{_PLANES_SAID.format('TZYX')}")


def _moved(a, order: list[int]):
    return a.permute(*order) if isinstance(a, torch.Tensor) else np.transpose(a, order)


def evaluate_layout(prediction, reference, axes, channel_axis, *, alone: bool):
    """(prediction, reference, channel_axis, axes) as ``evaluate`` scores them: with ``axes``,
    checked, Y, X moved last where they are not, and the channel axis (C or S) found; without,
    as given, with the leading-axis warning (``alone``: not called by the CLI or
    ``channel_metrics``, which know the axes)."""
    if axes is None:
        note = leading_axis_note(prediction.shape) if channel_axis is None and alone else None
        if note:
            warnings.warn(note, DeblurWarning, stacklevel=3)
        return prediction, reference, channel_axis, None
    if channel_axis is not None:
        raise ValueError(f"both axes={axes!r} and channel_axis={channel_axis!r} given; give one "
                         "(axes names the channel axis: C or S)")
    axes = check_axes(axes, tuple(int(n) for n in prediction.shape))
    order = [a for a in axes if a not in "YX"] + ["Y", "X"]  # evaluate's planes end in Y, X
    if order != list(axes):
        index = [axes.index(a) for a in order]
        prediction, reference = _moved(prediction, index), _moved(reference, index)
        axes = "".join(order)
    return prediction, reference, channel_index(axes), axes


def check_border(shape, ny: int, nx: int, border: int, *, given_axes: bool, window: int) -> None:
    """ValueError where ``border`` leaves less than SSIM's ``window`` of a ``ny`` x ``nx``
    image, or no pixel of an image under the window (said with the widest border that fits),
    or where an RGB(A) array given without axes had its colours read as X. An image under
    the window is scored with PSNR alone (``border_scores``): an 8 x 1024 strip had been
    refused, 'no border fits', even at border=0."""
    if not given_axes and len(shape) >= 3 and nx in (3, 4):
        # an RGB(A) array's colours read as X: asked, not guessed (a 3 px stack is an image)
        raise ValueError(
            f"prediction has shape {tuple(shape)}: its last axis ({nx}) is read as X; for an "
            "RGB(A) image pass channel_axis=-1 or axes='YXS' (--axes YXS on the command line)")
    side = min(ny, nx)
    need = window if side >= window else 1
    if side - 2 * border >= need:
        return
    most = (side - need) // 2
    left = f"border={border} leaves {max(ny - 2 * border, 0)} x {max(nx - 2 * border, 0)} px"
    fix = f"give border={most}{' or less' * bool(most)}"
    if need == window:
        raise ValueError(f"{left} of a {ny} x {nx} image, less than SSIM's {window} x {window} "
                         f"window; {fix}")
    raise ValueError(f"{left} of a {ny} x {nx} image; {fix} (an image under SSIM's {window} x "
                     f"{window} window is scored with PSNR alone)")


def fitting_border(ny: int, nx: int, border: int, window: int) -> int:
    """``border``, or where it leaves less than SSIM's ``window`` of a ``ny`` x ``nx`` image the
    widest that keeps it, or (an image under ``window`` px) the widest that leaves 1 px: what
    ``microdeblur evaluate`` uses for a --border left at its default."""
    side = min(ny, nx)
    if side - 2 * border >= window:
        return border
    keep = (side - window) // 2
    return keep if keep >= 0 else min(border, (side - 1) // 2)


def border_scores(planes, reference, ref_scale, border: int, window: int, *,
                  per_slice: bool) -> dict:
    """``evaluate``'s figures of (P, C, Y, X) ``planes`` against ``reference``: PSNR and SSIM
    with ``border`` px left out and whole, SSIM None where the area scored is under its
    ``window`` (JSON null: a strip 8 px high has a PSNR, no SSIM); with ``per_slice``, the
    per-plane lists too."""
    from .metrics import plane_scores, stack_psnr

    ssim = min(reference.shape[-2:]) - 2 * border >= window  # with it, border 0's fits too
    got = plane_scores([planes], reference, ref_scale=ref_scale, borders=(border, 0), ssim=ssim)
    psnrs, ssims = got["psnr"][0], (got["ssim"][0] if ssim else [None, None])
    means = [None if s is None else float(s.mean()) for s in ssims]
    result = {"psnr": stack_psnr(psnrs[0].tolist()), "ssim": means[0],
              "psnr_whole": stack_psnr(psnrs[1].tolist()), "ssim_whole": means[1]}
    if per_slice:
        result["psnr_per_slice"] = [float(v) for v in psnrs[0].tolist()]
        result["ssim_per_slice"] = ([None] * len(psnrs[0]) if ssims[0] is None
                                    else [float(v) for v in ssims[0].tolist()])
    return result


def host_array(a) -> np.ndarray:
    """``a`` as a numpy array on the host (a tensor copied off its device)."""
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def axes_extras(prediction, reference, axes: str | None, border: int, scale) -> dict:
    """What ``microdeblur evaluate --json`` adds for ``axes``: 'slice_labels' of a stack
    ({'T': 0, 'Z': 3} per entry of the per-slice lists) and, for a C axis of two channels or
    more, 'channels' (each scored on its own range of the reference, a constant one on the
    whole reference's ``scale``); {} without axes."""
    from .channel_metrics import channel_names, channel_scores, is_multichannel, slice_labels

    if axes is None:
        return {}
    shape = tuple(int(n) for n in reference.shape)
    extra = {}
    if labels := slice_labels(axes, shape):
        extra["slice_labels"] = labels
    if is_multichannel(axes, shape):
        names = channel_names(shape[axes.index("C")])
        extra["channels"] = channel_scores(host_array(prediction), host_array(reference), axes,
                                           border=border, names=names, whole_scale=scale)
    return extra
