"""Whether a PSF was made for the pixels of the image it deblurs: what a PSF's pixels measure
(an optics model's pixel= and dz=, a PSF TIFF's voxel size) against the image's pixel size
(its file, or a napari layer's scale). A PSF at another scale deblurs without an error, but
wrongly (too little, or rings), so the CLI, watch, cluster file tasks and the Deblur dock say so
in one line."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from .channel_psfs import channel_sources
from .psf import is_psf_model, optics_arguments
from .shown import shown_path

__all__ = ["array_resampling", "channel_resampling", "file_lines", "psf_for_image",
           "psf_resampling", "psf_sampling", "psf_scale_note", "scale_mismatch"]

#: Sampling differences below this share are metadata rounding, not a PSF at another scale.
_SCALE_TOLERANCE = 0.05


def psf_sampling(source) -> dict[str, float]:
    """What a PSF's pixels measure, in um per axis ('X', 'Y', 'Z'), where it says: an optics
    model's pixel= (and dz= when 3D), a PSF TIFF's voxel size (psf-from-beads writes the bead
    image's). Empty for a model in pixels (gaussian, disk, astig), an array, or no metadata."""
    if isinstance(source, str) and is_psf_model(source):
        kind, _, rest = source.strip().partition(":")
        kind = kind.strip().lower()
        if kind not in ("widefield", "confocal"):
            return {}
        arguments = optics_arguments(kind, rest, source)
        sizes = {"X": arguments["pixel"], "Y": arguments["pixel"]}
        if arguments.get("nz", 1) > 1 and arguments.get("dz"):
            sizes["Z"] = arguments["dz"]
        return sizes
    if not isinstance(source, (str, os.PathLike)) or not Path(source).is_file():
        return {}
    stat = Path(source).stat()  # a batch asks once per image: the file is read once
    return dict(_file_sampling(str(Path(source).resolve()), stat.st_size, stat.st_mtime_ns))


@functools.lru_cache(maxsize=32)
def _file_sampling(path: str, size: int, mtime_ns: int) -> tuple:
    """A PSF TIFF's voxel size as (axis, um) pairs; size and mtime key the cache (a file
    written again is read again)."""
    import tifffile

    from .pixel_units import pixel_size_from_tiff

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            axes = series.axes.replace("I", "Z").replace("Q", "Z")
            return tuple(pixel_size_from_tiff(tif, series.pages[0], axes).items())
    except Exception:  # noqa: BLE001 - an unreadable file is refused by read_psf, in its words
        return ()


def scale_mismatch(psf: dict, pixel_size: dict, axes: str) -> tuple[list[str], str]:
    """(the axes on which a PSF sampled at ``psf`` um per axis is more than 5 % off the image's
    ``pixel_size``, those sizes in words); Z only where both have it and ``axes`` has Z."""
    compared = [a for a in ("Z", "Y", "X") if a in psf and a in (pixel_size or {})
                and (a != "Z" or "Z" in axes)]
    # beyond 50x it is a default of the file (72 dpi is 353 um) or a unit slip, not optics
    off = [a for a in compared if abs(psf[a] - pixel_size[a]) > _SCALE_TOLERANCE * pixel_size[a]
           and 1 / 50 < psf[a] / pixel_size[a] < 50]
    names = {a: a for a in off}
    if {"Y", "X"} <= set(off) and psf["Y"] == psf["X"] and pixel_size["Y"] == pixel_size["X"]:
        names = {a: "YX" if a == "Y" else a for a in off if a != "X"}  # square pixels: once
    said = ", ".join(f"{name} {psf[a]:.4g} um (image {pixel_size[a]:.4g} um)"
                     for a, name in names.items())
    return off, said


def psf_scale_note(source, pixel_size, axes: str, *, image: str = "the image") -> str | None:
    """One line when the PSF ``source`` (``psf_sampling``) was made for other pixels than the
    image's ``pixel_size`` (um per axis, from its file or layer scale; ``axes`` its axes), by
    more than 5% on X, Y, or Z where the PSF is 3D and the image has Z; else None. A PSF at the
    wrong scale deblurs without an error but wrongly (too little, or rings)."""
    if parts := channel_sources(source):  # 'A;B': each channel's PSF, named by its channel
        notes = [(i, psf_scale_note(p, pixel_size, axes, image=image)) for i, p in enumerate(parts)]
        return "; ".join(f"channel {i + 1}: {n}" for i, n in notes if n) or None
    psf = psf_sampling(source)
    off, said = scale_mismatch(psf, pixel_size, axes)
    lines = _file_lines(source, psf, pixel_size, axes)
    if not off:
        return "; ".join(lines) or None
    if isinstance(source, str) and is_psf_model(source):
        keys = {"X": "pixel", "Y": "pixel", "Z": "dz"}
        fix = ", ".join(dict.fromkeys(f"{keys[a]}={pixel_size[a]:.4g}" for a in off))
        return (f"psf {source!r} is sampled at {said} for {image}: give {fix} in it (a PSF at "
                "another scale deblurs wrongly)")
    return "; ".join([f"the PSF {shown_path(source)} has voxels {said} for {image}: measure it "
                      "at the image's voxel size, or resample it (a PSF at another scale "
                      "deblurs wrongly)", *lines])


def _file_lines(source, psf: dict, pixel_size, axes: str) -> list[str]:
    """What reading the PSF file ``source`` changed (``psf_file.file_notes``), and, where it
    states no voxel size but the image does, that it is taken to have the image's (where the
    image states none but it does, that it is used at its own sampling)."""
    if not isinstance(source, (str, os.PathLike)) or not Path(source).is_file():
        return []
    from .pixel_units import PLAUSIBLE_UM
    from .psf_file import file_notes

    try:
        lines = file_notes(source)
    except (ValueError, TypeError, OSError):
        return []  # the run refuses the file in read_psf's words
    from .psf_fit import psf_data_shape

    three_d = len(psf_data_shape(str(source)) or ()) == 3  # a 2D PSF has no Z step to take
    stated = {a: v for a, v in (pixel_size or {}).items()
              if a in "YX" or (a == "Z" and "Z" in axes and three_d)}
    if not psf and {"Y", "X"} <= stated.keys() and all(
            PLAUSIBLE_UM[0] < v < PLAUSIBLE_UM[1] for v in stated.values()):
        if stated["Y"] == stated["X"]:  # square pixels: said once
            stated = {("YX" if a == "Y" else a): v for a, v in stated.items() if a != "X"}
        sizes = ", ".join(f"{a} {v:.4g} um" for a, v in sorted(stated.items(), key=_zyx))
        lines.append(f"it states no microscope's voxel size: taken to have the image's ({sizes})")
    if psf and not {"Y", "X"} & stated.keys():  # the converse: nothing to compare it with
        own = ", ".join(f"{a} {v:.4g} um" for a, v in sorted(psf.items(), key=_zyx))
        lines.append(f"it states voxels of {own} but the image states none: used at its own "
                     "sampling, which deblurs wrongly where the image's voxels differ (give the "
                     "image's voxel size, or resample the PSF to it)")
    elif psf and three_d and "Z" in axes:  # Y and X compared; Z may be stated on one side only
        lines += _z_step_lines(psf, stated)
    return [f"the PSF {shown_path(source)}: {'; '.join(lines)}"] if lines else []


def _z_step_lines(psf: dict, stated: dict) -> list[str]:
    """Where a 3D PSF file runs over Z and one side alone states a Z step: that the PSF's planes
    are taken to be as far apart as the image's (a 0.1 um-step PSF on a 0.3 um-step stack that
    stated no step ran unresampled, without a word)."""
    if "Z" in psf and "Z" not in stated:
        return [f"its Z step of {psf['Z']:.4g} um is taken as the image's, which states none "
                "(where the image's planes are another distance apart it deblurs wrongly: "
                "state the image's Z step, in its file as ImageJ's voxel depth or OME's "
                "PhysicalSizeZ, in napari as the layer's Z scale, and the PSF is resampled "
                "to it)"]
    if "Z" in stated and "Z" not in psf:
        return [f"it states no Z step: taken to have the image's ({stated['Z']:.4g} um)"]
    return []


def file_lines(source, pixel_size, axes: str, *, read_shape=None) -> list[str]:
    """What the run says on reading the PSF file ``source`` on an image of ``pixel_size`` and
    ``axes``, one line naming it (its notes; where it states no voxel size, that it takes the
    image's), and where its sides were even, that they were padded to the odd ``read_shape``;
    [] where none. The Deblur dock's preview says them, as the CLI does."""
    from .psf_fit import psf_data_shape

    lines = _file_lines(source, psf_sampling(source), pixel_size, axes)
    shape = psf_data_shape(str(source)) if read_shape is not None else None
    if shape and tuple(shape) != tuple(read_shape):
        lines.append(f"its {' x '.join(map(str, shape))} px padded to "
                     f"{' x '.join(map(str, read_shape))} (odd sides, centred)")
    return lines


def _zyx(item) -> int:
    return "ZYX".index(item[0][0])


def psf_for_image(spec, pixel_size, axes: str, *, image: str = "the image"):
    """``(spec, note)``: a MethodSpec whose PSF file (or array read from one) states a voxel
    size more than 5 % off the image's ``pixel_size`` (on Y, X, and Z where ``axes`` has it)
    with the PSF resampled to the image's (``psf_file.resample_psf``), and the one line for
    the run to warn with (what was resampled, and ``psf_scale_note``'s other lines); else
    ``spec`` as given and ``psf_scale_note``'s line."""
    spec, note, _ = psf_resampling(spec, pixel_size, axes, image=image)
    return spec, note


def psf_resampling(spec, pixel_size, axes: str, *, image: str = "the image"):
    """``psf_for_image``'s ``(spec, note)`` and what it resampled, for a record: ``{"psf_um":
    {axis: um}, "image_um": {axis: um}}`` of the axes it resampled, ``"shape"`` (the PSF's, as
    read) and ``"resampled_shape"``; None where it did not (the Deblur dock takes the same PSF
    as the CLI from here, and says from what to what)."""
    from .method import PsfArray
    from .psf import parse_psf
    from .psf_file import resample_psf

    psf = getattr(spec, "psf", None)
    origin = psf.origin if isinstance(psf, PsfArray) else psf
    if not isinstance(origin, str) or is_psf_model(origin) or channel_sources(origin):
        return spec, psf_scale_note(origin, pixel_size, axes, image=image), None
    sizes = psf_sampling(origin)
    off, said = scale_mismatch(sizes, pixel_size, axes)
    if not off:
        return spec, psf_scale_note(origin, pixel_size, axes, image=image), None
    kernel = psf.array if isinstance(psf, PsfArray) else parse_psf(origin)
    kernel_axes = "ZYX"[-kernel.ndim:]
    # an axis not compared (Z run plane by plane) keeps its sampling
    psf_um = [sizes[a] if a in off else 1.0 for a in kernel_axes]
    image_um = [pixel_size[a] if a in off else 1.0 for a in kernel_axes]
    resampled = resample_psf(kernel, psf_um, image_um)
    lines = [f"the PSF {shown_path(origin)} has voxels {said} for {image}: resampled to the "
             f"image's voxels ({' x '.join(map(str, kernel.shape))} -> "
             f"{' x '.join(map(str, resampled.shape))})",
             *_file_lines(origin, sizes, pixel_size, axes)]
    done = {"psf_um": {a: float(sizes[a]) for a in kernel_axes if a in off},
            "image_um": {a: float(pixel_size[a]) for a in kernel_axes if a in off},
            "shape": [int(n) for n in kernel.shape],
            "resampled_shape": [int(n) for n in resampled.shape]}
    return spec.replace(psf=PsfArray.from_array(resampled, origin=origin)), "; ".join(lines), done


def channel_resampling(spec, pixel_size, axes: str, shape, *, image: str = "the image"):
    """``psf_resampling`` for a spec with one PSF per channel (``channel_sources``) on an image
    of ``axes`` and ``shape``: ``(psfs, line, records)``, each channel's PSF as its run takes
    it (a file stating voxels more than 5 % off ``pixel_size`` resampled to them, a PsfArray
    naming the file; else the part as given: what that channel alone runs with), the one line
    to warn with (each channel's ``psf_resampling`` line, named by ``part_label``), and each
    channel's record (None: not resampled); Z compared only for a channel whose run is 3D
    (``psf_fit.runs_in_3d``). ``(None, None, None)`` where no channel is resampled or the
    layout cannot take these PSFs (``channel_psfs.prepare_channels`` refuses it, in its words).
    Per-channel files had run as given: a 0.1 um-step PSF each on 0.3 um planes."""
    from .channel_psfs import channel_sources, part_axis, part_label
    from .psf_fit import runs_in_3d

    parts = channel_sources(getattr(spec, "psf", None))
    letter = part_axis(axes)
    shape = tuple(int(n) for n in shape)
    if not parts or letter is None or len(axes) != len(shape):
        return None, None, None
    c = axes.index(letter)
    if letter == "C" and shape[c] != len(parts):
        return None, None, None
    plane_axes, plane = axes[:c] + axes[c + 1:], shape[:c] + shape[c + 1:]
    psfs, notes, records = [], [], []
    for i, part in enumerate(parts):
        one = spec.replace(psf=part)
        compared = plane_axes if runs_in_3d(one, plane_axes, plane) else \
            plane_axes.replace("Z", "")
        one, note, done = psf_resampling(one, pixel_size, compared, image=image)
        psfs.append(one.psf)
        records.append(done)
        if note:
            notes.append(f"{part_label(axes, i)}: {note}")
    if not any(records):
        return None, None, None
    return psfs, "; ".join(notes), records


def array_resampling(kernel, psf_sizes: dict, pixel_size, axes: str, *, name: str,
                     image: str = "the image"):
    """``(kernel, line, record)`` for a PSF array sampled at ``psf_sizes`` (um per axis: a PSF
    layer's scale) on an image of ``pixel_size``: where they differ by over 5 % (on Y, X, and
    Z where ``axes`` has it), the array cleaned as a file is (``psf_file.clean_psf``) and
    resampled to the image's (``psf_file.resample_psf``), as ``psf_resampling`` takes a file,
    the line saying so and ``psf_resampling``'s record (``"source"``: ``name``); else None."""
    import numpy as np

    from .psf import check_psf
    from .psf_file import clean_psf, resample_psf

    kernel = np.asarray(kernel)
    off, _ = scale_mismatch(psf_sizes, pixel_size, axes)
    if not off or kernel.ndim not in (2, 3):
        return None
    cleaned, notes = clean_psf(check_psf(kernel, kernel.ndim).astype(np.float64))
    kernel_axes = "ZYX"[-kernel.ndim:]
    psf_um = [psf_sizes[a] if a in off else 1.0 for a in kernel_axes]
    image_um = [pixel_size[a] if a in off else 1.0 for a in kernel_axes]
    resampled = resample_psf(cleaned, psf_um, image_um)
    shapes = [" x ".join(map(str, k.shape)) for k in (kernel, resampled)]
    # a layer's scale has no stated unit: the sizes as they are (as its unresampled line)
    said = ", ".join(f"{a} {psf_sizes[a]:.4g} (image {pixel_size[a]:.4g})" for a in off)
    line = "; ".join([f"PSF {name} has pixels {said} by its scale, unlike {image}: resampled "
                      f"to the image's pixels ({shapes[0]} -> {shapes[1]})", *notes])
    done = {"psf_um": {a: float(psf_sizes[a]) for a in kernel_axes if a in off},
            "image_um": {a: float(pixel_size[a]) for a in kernel_axes if a in off},
            "shape": [int(n) for n in kernel.shape],
            "resampled_shape": [int(n) for n in resampled.shape], "source": name}
    return resampled.astype(np.float32), line, done
