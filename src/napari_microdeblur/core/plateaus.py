"""Saturated plateaus: the image's maximum value held by flat patches of pixels (a camera or
a conversion clipped them), which deconvolution cannot undo.

A clipped patch is not blurred light: its edge is a step the PSF never made, so every method
rings around it (Wiener and the PSF-aware networks most), and the warnings that judge the fit
of the PSF can then blame the PSF (Wiener's balance 'auto': "GCV found no noise ... the PSF
looks wider"; the safeguard: "... energy at frequencies the PSF blocks").
``plateau_note`` says so once, as a ``DeblurNote``.

A plateau is a group of at least ``PLATEAU_PIXELS`` pixels, touching in Y, X (8 neighbours),
all at the image's maximum value; isolated hot pixels (1 or 2: ``saturation``) are not. Each
channel (C, or RGB's colours) has its own maximum and share: a channel clipped at 4095 beside
one that peaks at 30000 was missed while one maximum served the whole image. The planes (Z, T)
of a channel share its maximum: a plane's own top would call the few values of a near-empty
plane (0-2 of 8 bits, most pixels at 2) a saturated plateau.

Rule (benchmarks/saturation_plateaus.py, results/saturation_plateaus.json): the note fires
where plateaus hold more than ``PLATEAU_SHARE`` (0.15 %) of the image's pixels. Harm, measured
on 4 grayscale test-split images (2 fluorescence: ht29 nuclei, 16-bit NEUBIAS bacteria; 2 EM:
ISBI ssTEM, SEM) blurred (Gaussian PSF, sigma 2 px), noised and clipped on purpose, as the
change clipping made to the result outside the plateaus over the unclipped run's own error.
Fluorescence: Wiener (true PSF) 0.004-0.018 at 0.1 % clipped, 0.15-0.20 at 0.2 %, 0.16-0.43
at 0.5 %, up to 2.9 at 5 %; the network 'auto' (modality fluorescence, on all 4) 0.03 at
0.1 %, 0.06 at 0.2 %, 0.1 at 0.5 %, 0.19-0.22 at 5 %. EM, lower (its bright patches are flat
anyway) but not nil: Wiener at most 0.026 up to 2 %, 0.023-0.15 at 5 % (SEM 0.15); 'auto'
0.009-0.011 at 0.1 %, 0.017-0.036 at 0.2 %, up to 0.034-0.077 at 5 %. The 1-3 px ring round
the plateaus changed by 0.35-1.9x the run's own error at 0.1 % on fluorescence (up to 7x at
5 %), 0.05-0.5x on EM. None of its 64 runs (Wiener with balance 'auto') drew a PSF-blaming
warning, so that part of the note is a caution, not a measured rate. Of 286 images in
/work/shared/data (every split) 14 hold over 0.1 % in plateaus and 9 over 0.15 %, each with
flat patches at its top value: 3 SEM (two at 255, one at 252), fly-eye EM (255), a 12-bit
plant image saturated on purpose (4095), 2 oil-red-O brightfield images with a clipped white
background, a fluorescence channel (vitra_translocation Channel_2, 255) and an H&E crop
(OpenSlide OS-1-detail, 255); ht29 nuclei (0.13 %) stay below."""

from __future__ import annotations

import numpy as np

__all__ = ["PLATEAU_PIXELS", "PLATEAU_SHARE", "channel_shares", "plateau_mask",
           "plateau_note", "plateau_share", "stepped_plateaus"]

#: the least number of touching pixels at the maximum that count as a plateau: one or two
#: are hot pixels (``saturation.isolated_outliers``); a bead's single brightest pixel is one
PLATEAU_PIXELS = 5
#: the share of a channel's pixels in plateaus above which ``plateau_note`` speaks
PLATEAU_SHARE = 0.0015
#: the channels ``plateau_note`` names at most; more are counted
NAMED_CHANNELS = 2


def _channel_axes(sample: np.ndarray, axes: str) -> tuple[int, ...]:
    """The positions of the channel axes (C, S) of ``sample`` that hold more than one."""
    return tuple(i for i, a in enumerate(axes) if a in "CS" and sample.shape[i] > 1)


def plateau_mask(sample: np.ndarray, axes: str) -> np.ndarray | None:
    """Where ``sample`` (of ``axes``) sits at its maximum in plateaus (``PLATEAU_PIXELS`` or
    more pixels touching in Y, X; the other axes kept apart), each channel (C, S) at its own
    maximum; None where there is no Y, X plane or each channel holds one value."""
    from scipy import ndimage

    if "Y" not in axes or "X" not in axes or sample.size == 0:
        return None
    per = _channel_axes(sample, axes)
    rest = tuple(i for i in range(sample.ndim) if i not in per)
    top = sample.max(axis=rest, keepdims=True)
    # a flat channel (or image): ``flat_planes`` passes it through
    at_top = (sample == top) & (sample.min(axis=rest, keepdims=True) != top)
    if at_top.any() and not per:
        _leave_out_edge_fill(sample, axes, at_top)
    if not at_top.any():
        return None
    # 8-connected in Y, X only: a plateau in one plane (or channel) is not joined to another
    structure = np.zeros((3,) * sample.ndim, bool)
    centre = [1] * sample.ndim
    for dy in range(3):
        for dx in range(3):
            centre[axes.index("Y")], centre[axes.index("X")] = dy, dx
            structure[tuple(centre)] = True
    labels, count = ndimage.label(at_top, structure)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return (sizes >= PLATEAU_PIXELS)[labels]


def _leave_out_edge_fill(sample: np.ndarray, axes: str, at_top: np.ndarray) -> None:
    """Clear from ``at_top`` each Y, X plane's white edge fill: passed through by a deblur
    (``edge_fill``, plane by plane: an aligned series' border too), not a saturated patch."""
    from .edge_fill import edge_fill_mask

    y, x = axes.index("Y"), axes.index("X")
    others = [i for i in range(sample.ndim) if i not in (y, x)]
    for index in np.ndindex(*(sample.shape[i] for i in others)):
        key = [slice(None)] * sample.ndim
        for i, at in zip(others, index):
            key[i] = at
        key = tuple(key)
        if at_top[key].any() and (fill := edge_fill_mask(sample[key])) is not None:
            at_top[key] &= ~fill


def stepped_plateaus(plane: np.ndarray) -> np.ndarray | None:
    """(Y, X) bool: the plateaus of a 2D ``plane`` at its maximum and at its minimum that hold
    more than ``PLATEAU_SHARE`` of it (as ``plateau_note`` counts) and step away from the image
    next to them (``edge_fill.MIN_STEP``): a burned-in white scale bar or label, a black mask.
    None where there is none.

    Their edge is a step no PSF made, which the PSF estimate read as an unblurred edge (a white
    bar on a blur of sigma 2 px: astig:0.51,0.42). A plateau clipped from blurred light (a
    saturated cell) meets the image at its own level, not in a step, and is left alone:
    continuing it changed little and narrowed estimates (sigma 2 clipped at the top 2 %: 1.10
    -> 1.00 px on ht29 nuclei, 1.61 -> 1.29 on a brightfield worm crop)."""
    from scipy import ndimage

    from .edge_fill import MIN_STEP

    plane = np.asarray(plane, dtype=np.float64)  # negated below: no unsigned wrap-round
    found = None
    for sign in (1.0, -1.0):
        mask = plateau_mask(sign * plane, "YX")
        if mask is None or np.count_nonzero(mask) <= PLATEAU_SHARE * mask.size:
            continue
        # the median step from the plateau to the pixels round it, over the rest's p1-p99
        # spread, as an edge fill's (``edge_fill.MIN_STEP``)
        rest = plane[~mask]
        spread = float(np.percentile(rest, 99) - np.percentile(rest, 1))
        step = np.median(np.abs(plane[ndimage.binary_dilation(mask) & ~mask] - plane[mask][0]))
        # and a step of many of the data's levels: photon counts (0.3 a pixel) hold a sea of
        # zeros that steps by one count to a rest spread over two, which is noise, not an edge
        if spread > 0 and step >= MIN_STEP * spread and step >= MIN_LEVELS * _level(plane):
            found = mask if found is None else found | mask
    return found


#: the least step, in the data's levels (``_level``), a plateau's edge takes to be stepped
MIN_LEVELS = 16


def _level(plane: np.ndarray) -> float:
    """The smallest difference between two distinct values of ``plane`` (1 for counts)."""
    values = np.unique(plane)
    return float(np.diff(values).min()) if values.size > 1 else 0.0


def channel_shares(sample: np.ndarray, axes: str) -> list[tuple[tuple[int, ...], float, float]]:
    """(the channel's index along the C, S axes of ``sample`` holding more than one (``()``
    for none), the share of its pixels in plateaus at its maximum, that maximum), per channel."""
    per = _channel_axes(sample, axes)
    mask = plateau_mask(sample, axes)
    shares = []
    for index in np.ndindex(*(sample.shape[i] for i in per)):
        key = [slice(None)] * sample.ndim
        for i, at in zip(per, index):
            key[i] = at
        part = sample[tuple(key)]
        hit = 0 if mask is None else np.count_nonzero(mask[tuple(key)])
        shares.append((tuple(int(i) for i in index), hit / max(1, part.size),
                       float(part.max()) if part.size else 0.0))
    return shares


def plateau_share(sample: np.ndarray, axes: str) -> tuple[float, float]:
    """(the share of ``sample``'s pixels in plateaus at their channel's maximum, the
    maximum)."""
    mask = plateau_mask(sample, axes)
    if mask is None:
        return 0.0, float(sample.max()) if sample.size else 0.0
    return float(np.count_nonzero(mask) / mask.size), float(sample.max())


def _label(per: str, index: tuple[int, ...]) -> str:
    """'channel 2' (C, from 1 as the other lines count), 'colour G' (RGB's S)."""
    from .channel_psfs import part_label

    return ", ".join(part_label(a, i) for a, i in zip(per, index))


def plateau_note(sample: np.ndarray, axes: str, method_name: str) -> str:
    """The line a deblur of an image whose ``sample`` (its statistics sample, of ``axes``)
    holds more than ``PLATEAU_SHARE`` of a channel's pixels in plateaus at that channel's
    maximum, naming such channels; '' otherwise."""
    over = [s for s in channel_shares(sample, axes) if s[1] > PLATEAU_SHARE]
    if not over:
        return ""
    # re-acquiring mends saturation only; a scale bar's plateau rings all the same: mask it
    tail = (f"{method_name} cannot restore them; ringing and PSF warnings may follow. "
            "Re-acquire if saturated (less gain/exposure); either way, mask them")
    # "flat plateaus": benchmarks/saturation_plateaus.py tells the note from PSF warnings by it;
    # a white annotation (a burned-in scale bar) is a plateau at the maximum as well
    why = "saturated, or a scale bar?"
    if over[0][0] == ():
        share, top = over[0][1:]
        return (f"{100 * share:.2g} % of the pixels sit in flat plateaus at the maximum "
                f"{top:.6g} ({why}): {tail}")
    per = "".join(axes[i] for i in _channel_axes(sample, axes))
    if len(over) == 1:
        index, share, top = over[0]
        return (f"{100 * share:.2g} % of {_label(per, index)}'s pixels sit in flat plateaus at "
                f"its maximum {top:.6g} ({why}): {tail}")
    named = ", ".join(f"{100 * share:.2g} % of {_label(per, index)} (at {top:.6g})"
                      for index, share, top in over[:NAMED_CHANNELS])
    if len(over) > NAMED_CHANNELS:
        named += f" and {len(over) - NAMED_CHANNELS} more channels"
    return f"flat plateaus at a channel's maximum ({why}) hold {named}: {tail}"
