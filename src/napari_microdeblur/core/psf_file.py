"""A PSF as a file holds it (PSF Generator, Huygens, a bead average) made ready to deconvolve
with: undershoot clipped, a constant background subtracted, centred on its centroid with odd
sides, and resampled to an image's voxel size. Each step that changed it is said in one line
(``psf.read_psf`` keeps them for ``psf_scale.psf_scale_note``, which the runs warn with).

On the walkthrough's 70-plane stack (input 20.32 dB, true PSF 23.03 dB) a 16-bit bead average
with a 2.5 % offset gave 18.44 dB used as is (20.98 cleaned), a PSF 4 voxels off centre shifted
the output (20.90; 22.78 centred), and one at 0.1 / 0.05 um gave 21.72 (22.01 resampled; the
true PSF cut to the same extent 22.05)."""

from __future__ import annotations

import numpy as np

__all__ = ["clean_psf", "file_notes", "remember_notes", "resample_psf", "similar_psf_file",
           "warn_unscaled_psf_files",
           "BACKGROUND_LEVEL", "BACKGROUND_SHARE"]

#: A border median above this share of the peak and ``_BACKGROUND_SIGMAS`` noise sigmas of the
#: border is background, not the PSF's own wings: computed PSFs' borders held 0.02-7 % of the
#: peak but at most 3.6 sigmas of their own spread (their wings vary), bead averages with a
#: camera offset 1-2.5 % at 10-150 sigmas.
BACKGROUND_LEVEL = 0.005
#: ... or, below that level, a noisy border median that summed over every voxel holds more than
#: this share of the file's light: 0.3 % of the peak over a 201 x 201 file was 83 % of its
#: light, and Richardson-Lucy with it made a 30.99 dB image 29.76 (31.84 with the true PSF).
#: Flat shares of 5-20 % moved that result by 0.05 dB at most, 50 % by 0.2-0.6 dB: 5 % leaves
#: a margin and spares a note on a harmless offset. The noise test still separates it from a
#: computed PSF's wings (widefield, confocal: up to 47 % of the light on the border of a 3D
#: box, at under 2.6 sigmas); a border of one value (a quantised PSF's wings, all 1 count) has
#: no noise to stand clear of, and is left to the level test.
BACKGROUND_SHARE = 0.05
_BACKGROUND_SIGMAS = 5.0
_CENTRE_LEVEL = 0.01  # the centroid of the voxels above this share of the peak: noise stays out


def _border(data: np.ndarray) -> np.ndarray:
    return np.concatenate([np.moveaxis(data, a, 0)[[0, -1]].ravel() for a in range(data.ndim)])


def _background(data: np.ndarray) -> tuple[float, float]:
    """The constant the file adds to every voxel and its noise (sigma): its border's median,
    where that is clearly above the noise (5 sigmas of the border), below the peak, and above
    ``BACKGROUND_LEVEL`` of the peak or (noisy) holding over ``BACKGROUND_SHARE`` of the light
    summed over the file; else (0, 0)."""
    border = _border(data)
    median = float(np.median(border))
    noise = 1.4826 * float(np.median(np.abs(border - median)))
    light = float(np.clip(data, 0.0, None).sum())
    large = (median > BACKGROUND_LEVEL * data.max()
             or (noise > 0 and median * data.size > BACKGROUND_SHARE * light))
    # a flat kernel (a box as large as its array) is all border: nothing stands above it
    clear = large and median > _BACKGROUND_SIGMAS * noise and data.max() > median
    return (median, noise) if clear else (0.0, 0.0)


def _without_noise(psf: np.ndarray, noise: float) -> np.ndarray:
    """``psf`` set to 0 but for the voxels above 3 noise sigmas that connect (within 2 voxels,
    so rings count) to the peak: the noise left after the background, clipped at 0, is
    positive everywhere and spread over the whole volume it outweighed the PSF."""
    from scipy import ndimage

    above = psf >= 3 * noise
    labels, _ = ndimage.label(ndimage.binary_dilation(above, iterations=2))
    keep = above & (labels == labels[np.unravel_index(int(np.argmax(psf)), psf.shape)])
    return np.where(keep, psf, 0.0)


def _centred(psf: np.ndarray) -> tuple[np.ndarray, tuple[float, ...]]:
    """The PSF padded with zeros so that its centroid is its middle voxel, every side odd; and
    how far the centroid was from the middle, per axis. Within 1 voxel of it an odd side stays
    as it is and an even one gets one plane, on the side that brings the centroid nearer."""
    weights = np.where(psf >= _CENTRE_LEVEL * psf.max(), psf, 0.0)
    total = weights.sum()
    widths, offsets = [], []
    for axis, n in enumerate(psf.shape):
        profile = weights.sum(axis=tuple(a for a in range(psf.ndim) if a != axis))
        centroid = float((profile * np.arange(n)).sum() / total)
        offsets.append(centroid - (n - 1) / 2)
        if abs(offsets[-1]) <= 1:  # as a PSF made centred on a grid of even side is
            widths.append((0, 0) if n % 2 else (1, 0) if offsets[-1] < 0 else (0, 1))
            continue
        c = int(np.rint(centroid))
        half = max(c, n - 1 - c)
        widths.append((half - c, half - (n - 1 - c)))
    padded = np.pad(psf, widths)
    for axis, n in enumerate(psf.shape):
        if n % 2 == 0 and abs(offsets[axis]) <= 1:
            # the face an even side leaves without a mirror partner is shared with the zero
            # plane added opposite: light and centre kept, and a PSF symmetric but for that
            # face becomes symmetric, so Richardson-Lucy takes its mirror (DCT) path (a 64^3
            # PSF Generator file ran 17-24 s on the padded path, 1.4 s so; results moved 0.7 %)
            view = np.moveaxis(padded, axis, 0)
            share = (view[0] + view[-1]) / 2
            view[0], view[-1] = share, share
    return padded, tuple(offsets)


def clean_psf(data: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """``data`` (float64, finite, some value > 0) as a PSF to deconvolve with, float64 summing
    to 1, and the lines saying what changed: the light its negative values held (clipped),
    a constant background (subtracted, measured on the file's own border before any padding),
    its centroid's distance from the middle where over 1 voxel (padded so that it is the
    middle). Even sides become odd by the centring, which adds zero planes only."""
    notes = []
    peak = float(data.max())
    negative = float(-data[data < 0].sum())
    if negative > 0:
        share = negative / float(data[data > 0].sum())
        notes.append(f"negative values down to {data.min() / peak:.1%} of the peak set to 0 "
                     f"({share:.1%} of its light)")
    background, noise = _background(data)
    psf = np.clip(data - background, 0.0, None)
    if background:
        psf = _without_noise(psf, noise) if noise > 0 else psf
        removed = 1 - psf.sum() / float(np.clip(data, 0.0, None).sum())
        noisy = ", the noise around the PSF set to 0" if noise > 0 else ""
        # under the level per voxel, it was its sum over the file that outweighed the PSF
        summed = (f", small per voxel but over its {' x '.join(map(str, data.shape))} voxels"
                  if background <= BACKGROUND_LEVEL * peak else "")
        level = f"{background / peak:.1%}" if background >= 0.001 * peak else \
            f"{100 * background / peak:.1g}%"  # '0.0%' said nothing
        notes.append(f"a background of {level} of the peak subtracted{noisy} "
                     f"({removed:.0%} of its light{summed}; measured on its border)")
    psf, moved = _centred(psf)
    if any(abs(m) > 1 for m in moved):
        notes.append(f"centred: its centroid was {', '.join(f'{m:.1f}' for m in moved)} voxels "
                     f"({'ZYX'[-len(moved):]}) off the middle (it would shift the result)")
    return psf / psf.sum(), notes


def resample_psf(psf: np.ndarray, psf_um, image_um) -> np.ndarray:
    """``psf`` (ZYX or YX, odd sides, centred) sampled at ``psf_um`` um per axis, resampled to
    ``image_um`` per axis: each image voxel takes the light of the PSF's voxels it covers (a
    Gaussian of a box's variance before linear interpolation where the PSF is finer), the
    middle stays the middle, the sides stay odd, and it sums to 1."""
    from scipy import ndimage

    psf = np.asarray(psf, dtype=np.float64)
    factors = [float(p) / float(i) for p, i in zip(psf_um, image_um)]  # image voxels per PSF's
    # a coarser image voxel spans 1/f PSF voxels: a box of that width has variance w^2 / 12
    sigmas = [np.sqrt(max(1 / f**2 - 1, 0.0) / 12) for f in factors]
    smooth = ndimage.gaussian_filter(psf, sigmas, mode="constant") if any(sigmas) else psf
    halves = [max(int((n // 2) * f), 0) for n, f in zip(psf.shape, factors)]
    grids = np.meshgrid(*[n // 2 + np.arange(-h, h + 1) / f
                          for n, h, f in zip(psf.shape, halves, factors)], indexing="ij")
    out = np.clip(ndimage.map_coordinates(smooth, grids, order=1, mode="constant"), 0.0, None)
    if out.sum() <= 0:
        raise ValueError(f"the PSF ({psf.shape} voxels) has no light left at the image's voxel "
                         "size; give a PSF measured at the image's voxel size")
    return out / out.sum()


_NOTES: dict[tuple, tuple[str, ...]] = {}


def _key(path) -> tuple:
    from pathlib import Path

    stat = Path(path).stat()
    return str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns


def remember_notes(path, notes) -> None:
    """Keep what ``clean_psf`` changed in the file at ``path`` (``psf.read_psf`` calls it)."""
    _NOTES[_key(path)] = tuple(notes)


def file_notes(path) -> list[str]:
    """What reading the PSF file at ``path`` changed (``clean_psf``), one line each; the file is
    read where it was not yet (or was written again since)."""
    if _key(path) not in _NOTES:
        from .psf import read_psf

        read_psf(path)
    return list(_NOTES[_key(path)])


def warn_unscaled_psf_files(source) -> None:
    """``inference.iter_deblur`` on an array given the PSF file(s) ``source`` (a path, or 'A;B'
    one per channel): an array carries no voxel size to compare a file's with. Warns what
    reading each file changed (DeblurNote) and, where a file states a voxel size, that it is
    used at its own sampling (DeblurWarning). The CLI, ``deblur_file`` and the Deblur dock
    compare it with the image's and say both in their own lines."""
    import os
    import warnings
    from pathlib import Path

    from .channel_psfs import channel_sources
    from .notes import DeblurNote, DeblurWarning
    from .psf_scale import psf_sampling
    from .shown import shown_path

    for part in channel_sources(source) or [source]:
        if not isinstance(part, (str, os.PathLike)) or not Path(part).is_file():
            continue  # a model or 'estimate': nothing read from a file
        if notes := file_notes(part):
            warnings.warn(f"the PSF {shown_path(part)}: {'; '.join(notes)}", DeblurNote,
                          stacklevel=3)
        sizes = psf_sampling(part)
        if not sizes:
            continue
        if sizes.get("Y") == sizes.get("X"):  # square pixels: said once
            sizes = {("YX" if a == "Y" else a): v for a, v in sizes.items() if a != "X"}
        said = ", ".join(f"{a} {v:.4g} um" for a, v in sorted(sizes.items(),
                                                               key=lambda i: "ZYX".index(i[0][0])))
        warnings.warn(
            f"the PSF {shown_path(part)} states voxels of {said}, but an array carries no voxel "
            "size: the PSF is used at its own sampling, which deblurs wrongly where the "
            "image's voxels differ; deblur the image's file with deblur_file (it resamples the "
            "PSF to the voxel size the file states), or pass the PSF resampled: "
            "napari_microdeblur.core.psf_file.resample_psf(napari_microdeblur.core.psf."
            "read_psf(PATH), psf_um, image_um)", DeblurWarning, stacklevel=3)


#: what a PSF file's name may end with (read_psf reads TIFF), lower case
_TIFF_SUFFIXES = (".tif", ".tiff", ".ome.tif", ".ome.tiff")


def similar_psf_file(given) -> str | None:
    """The one file beside ``given`` (a path that is no file) named as it plus a TIFF suffix,
    as the user would type it ('psf' -> 'psf.tif': Windows hides extensions, so a user sees
    'psf'); None where there is none or more than one (which one was meant is not known)."""
    import os

    text = os.fspath(given).strip()
    name = os.path.basename(text).lower()
    if not name:
        return None
    folder = os.path.dirname(text)
    try:
        found = [entry.name for entry in os.scandir(folder or ".")
                 if entry.name.lower().startswith(name)
                 and entry.name.lower()[len(name):] in _TIFF_SUFFIXES and entry.is_file()]
    except (OSError, ValueError):  # no such folder, or a name no folder can hold
        return None
    return os.path.join(folder, found[0]) if len(found) == 1 else None
