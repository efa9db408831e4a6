"""Where a saved layer sits (its napari ``translate``), for ``_writer``: a .zarr keeps it as
an NGFF translation after the scale (``zarr_metadata.output_attrs``), which napari-ome-zarr and
the plugin's reader place the image by; a TIFF of this writer keeps none, and says so in a
line and in ``_writer.saved_contents``: a crop's result saved there reopened at 0, away from
the image it was cut from, without a word. A layer at 0 is saved as before."""

from __future__ import annotations

import os

#: the paths last saved without their layer's non-zero translate (a TIFF): ``position_said``
#: says so, as ``_writer.saved_contents`` reads back only what the file holds
_POSITION_NOT_KEPT: set[str] = set()


def zarr_position(axes: str, meta: dict, pixel_size: dict, extras: dict) -> dict:
    """{``POSITION_KEY``: the layer's offset} for ``io_write.open_zarr_output(metadata=)``, in
    the units of the scale it writes (um where ``pixel_size`` gives a size, s on T with the
    ``extras``' interval, else pixels); {} for a layer at 0."""
    from .core.zarr_metadata import POSITION_KEY, translate_position

    position = translate_position(axes.replace("S", ""), meta.get("translate"),
                                  meta.get("scale"), pixel_size, extras.get("time_interval"))
    return {POSITION_KEY: position} if position else {}


def position_note(path, meta: dict) -> str | None:
    """The line that ``path``, no .zarr, does not keep the layer's non-zero translate (it is
    then remembered for ``position_said``); None where it is kept or at 0."""
    from .core.io import is_zarr

    key = os.path.abspath(os.fspath(path))
    _POSITION_NOT_KEPT.discard(key)
    translate = [float(t) for t in meta.get("translate") or ()]
    if is_zarr(path) or not any(translate):
        return None
    _POSITION_NOT_KEPT.add(key)
    return (f"layer {meta.get('name')!r}: saved without its position (translate "
            f"{', '.join(f'{t:g}' for t in translate)}): it reopens at 0; this writer keeps a "
            "position in .zarr only: save it as .zarr to keep it")


def position_said(path, sizes: dict, extras: dict, lacking: list) -> list[str]:
    """['position (Y 10, X 20 um)'] where the saved file places its image away from 0 (a
    .zarr's translation, read back in ``extras``; ``sizes``: its pixel sizes); [] otherwise,
    'position' added to ``lacking`` where the layer's was not kept (``position_note``)."""
    from .core.zarr_metadata import POSITION_KEY, position_words

    if os.path.abspath(os.fspath(path)) in _POSITION_NOT_KEPT:
        lacking.append("position (kept in .zarr only)")
    position = extras.get(POSITION_KEY)
    if not isinstance(position, dict) or not position:
        return []
    return [f"position ({position_words(position, sizes, extras.get('time_interval'))})"]
