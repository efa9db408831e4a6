"""Planes under SSIM's 11 x 11 window in the Compare & QC dock: scored with PSNR alone, SSIM
n/a, as ``microdeblur evaluate`` scores them (an 8 x 1024 strip had shown no figures at all),
the 'exclude border' tick narrowed to a border that fits; refused where the short side is most
likely channels read as Y or X. Planes of 11 px or more are scored as before."""

from __future__ import annotations

from ..core.axes import MAX_SAMPLES
from ._layers import layer_axes_origin, layer_data

MIN_SIDE = 11  # SSIM's window (core.plane_metrics.MIN_SIDE: that module imports torch)


def plane_sides(truth) -> tuple[int, int]:
    """(ny, nx) of the ground-truth layer's Y-X planes (an RGB layer's colours left out)."""
    shape = layer_data(truth).shape[truth.ndim - 2:truth.ndim]
    return int(shape[0]), int(shape[1])


def channel_side_line(truth) -> str:
    """The refusal of planes whose side under SSIM's window is most likely a channel axis
    shown as Y or X (a (3, Y, X) image read as (Y, X, 3)): axes not stated as ending in YX,
    and a side of 4 px or less with a longer leading axis (``core.axes.narrow_plane_note``'s
    rule) or an X of 3 or 4 (``metrics_axes.check_border``'s); '' otherwise."""
    ny, nx = plane_sides(truth)
    shape = tuple(int(n) for n in layer_data(truth).shape[:truth.ndim])
    axes, origin = layer_axes_origin(truth)
    side, leading = min(ny, nx), shape[:-2]
    if side >= MIN_SIDE or not leading or (origin and axes.endswith("YX")):
        return ""
    if not ((side <= MAX_SAMPLES and side < max(leading)) or nx in (3, 4)):
        return ""
    return (f"the slice is {ny} x {nx} pixels, smaller than SSIM's {MIN_SIDE} x {MIN_SIDE} "
            f"window, in an image of shape {shape}: its {side}-px side is most likely "
            "channels; check that Y and X are the image's last two axes")


def scored_border(truth, border: int) -> int:
    """The border scored on ``truth``'s planes with ``border`` px asked for: narrowed on a
    plane under SSIM's window (``plane_metrics.small_plane_border``); ValueError where such a
    plane's short side looks like channels (``channel_side_line``)."""
    from ..core.plane_metrics import small_plane_border

    if line := channel_side_line(truth):
        raise ValueError(line)
    return small_plane_border(*plane_sides(truth), border)


def border_words(truth, border: int, asked: int) -> str:
    """The slice line's border part: '; 16-px border excluded', or where the tick's ``asked``
    border was narrowed to ``border`` on a thin plane, what is excluded and why."""
    if border == asked:
        return f"; {border}-px border excluded" if border else ""
    what = f"{border}-px border excluded" if border else "no border excluded"
    return (f"; {what} (the {asked}-px border does not fit a slice "
            f"{min(plane_sides(truth))} px wide)")


def ssim_cell(result: dict, names: tuple) -> str:
    """'n/a' for an SSIM cell of ``names`` (roles, all scored) on a plane under SSIM's window
    (``ssim_na`` in ``result``), '' otherwise."""
    return "n/a" if result.get("ssim_na") and all(
        f"psnr_{n}" in result for n in names) else ""
