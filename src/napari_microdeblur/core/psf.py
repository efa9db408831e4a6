"""Point spread functions: Gaussian, defocus disk, astigmatic Gaussian, widefield or confocal
optics (``core.optics``), or read from a TIFF; checks of a PSF against the image it deblurs.

Every PSF is a float32 numpy array with odd side lengths, centred on its middle pixel, summing to
1, so convolving with it keeps an image's mean intensity and does not shift it.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from numbers import Real
from pathlib import Path

import numpy as np

from .channel_psfs import channel_sources
from .psf_file import clean_psf, remember_notes, similar_psf_file
from .psf_likeness import PsfFileRefused, not_a_psf, psf_series
from .shown import shown_path

__all__ = ["gaussian_psf", "disk_psf", "astigmatic_psf", "read_psf", "parse_psf", "is_psf_model",
           "check_psf", "fit_psf_to_image", "in_focus_plane", "in_focus_share", "psf_preview",
           "calibration_gaps", "calibration_values", "with_calibration", "PSF_MODELS", "PSF_HELP"]

_SUPERSAMPLE = 8  # sub-pixels per pixel side for the disk's anti-aliased edge

PSF_MODELS = ("gaussian", "disk", "astig", "widefield", "confocal")

_SPEC_FORMS = (
    "'gaussian:SIGMA' (e.g. 'gaussian:1.6'), 'gaussian:SIGMA_Y,SIGMA_X' (e.g. 'gaussian:2.0,1.0'), "
    "'disk:RADIUS' (e.g. 'disk:3'), 'astig:SIGMA_MAJOR,SIGMA_MINOR,ANGLE_DEG' "
    "(e.g. 'astig:2.5,0.8,30'), 'widefield:na=1.4,wavelength=0.52,pixel=0.065' or "
    "'confocal:na=1.4,wavelength=0.52,pixel=0.065' (optional keys: ni, ns, depth, defocus, size, "
    "nz, dz; confocal also excitation_wavelength, pinhole), or a path to a .tif/.tiff"
)

# Keys of the optics forms: the keyword arguments of core.optics, lengths in micrometres.
_OPTICS_KEYS = {"na": float, "wavelength": float, "pixel": float, "ni": float, "ns": float,
                "depth": float, "defocus": float, "size": int, "nz": int, "dz": float}
_CONFOCAL_KEYS = {**_OPTICS_KEYS, "excitation_wavelength": float, "pinhole": float}
_REQUIRED_OPTICS_KEYS = ("na", "wavelength", "pixel")

PSF_HELP = (
    "the PSF: gaussian:SIGMA[,SIGMA_X] | disk:RADIUS | astig:S_MAJOR,S_MINOR,ANGLE_DEG "
    "(sigmas and radius in pixels, angle in degrees) | "
    "widefield:na=1.4,wavelength=0.52,pixel=0.065[,ni=1.515,ns=1.33,depth=10,size=65,"
    "defocus=0.5 (2D) or nz=31,dz=0.2 (3D)] | confocal:...same keys[,excitation_wavelength=0.488,"
    "pinhole=1] "
    "(wavelengths, pixel, depth, defocus, dz in micrometres; pinhole in Airy units; ni/ns the "
    "immersion and sample refractive indices; pixel= and dz= may be left out where the image "
    "file states its pixel size; needs the psfmodels package) | FILE.tif "
    "(2D YX or 3D ZYX, e.g. from psf-from-beads) | estimate (a Gaussian, possibly "
    "astigmatic, estimated from the image itself; the deblur prints it) | one PSF per channel "
    "of the C axis, in channel order, separated by ';' (quote it), e.g. "
    "\"widefield:na=1.4,wavelength=0.46,pixel=0.1;widefield:na=1.4,wavelength=0.61,pixel=0.1\""
)
# Values more negative than this fraction of the peak are refused, not clipped: they are not
# background-subtraction noise but a PSF that was processed wrongly.
_NEGATIVE_TOLERANCE = 0.05
_SUPPORT_LEVEL = 1e-3  # as core.optics: pixels below this fraction of the peak are background


def _positive(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} is {value!r}; accepted: a positive finite number (pixels)")
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} is {value!r}; accepted: a positive finite number (pixels)")
    return v


#: The widest PSF a model (gaussian, disk, astig) is computed on: sigma up to 64 px, radius up to
#: 256 px. A blur wider than that leaves nothing to deconvolve in any image this tool tiles, and
#: a mistyped 'gaussian:1e4' would otherwise allocate tens of GB before any message.
MAX_MODEL_SIDE = 513


def _sizes(size, ndim: int, default: tuple[int, ...]) -> tuple[int, ...]:
    if size is None:
        if max(default) > MAX_MODEL_SIDE:
            raise ValueError(
                f"that PSF model would be {max(default)} px wide; accepted: at most "
                f"{MAX_MODEL_SIDE} px (sigma up to 64 px, radius up to 256 px; check the units: "
                "pixels)")
        return default
    sizes = tuple(size) if isinstance(size, (Sequence, np.ndarray)) else (size,) * ndim
    if len(sizes) != ndim or not all(isinstance(s, (int, np.integer)) and not isinstance(
            s, bool) and s > 0 and s % 2 == 1 for s in sizes):
        raise ValueError(f"size is {size!r}; accepted: None, an odd positive integer, or "
                         f"{ndim} of them (odd so the PSF has a centre pixel)")
    return tuple(int(s) for s in sizes)


def _normalised(psf: np.ndarray) -> np.ndarray:
    # Normalise in float64 so the float32 result sums to 1 within float32 rounding.
    psf = np.asarray(psf, dtype=np.float64)
    return (psf / psf.sum()).astype(np.float32)


def _grid(sizes: tuple[int, ...]) -> list[np.ndarray]:
    return np.meshgrid(*[np.arange(s, dtype=np.float64) - s // 2 for s in sizes], indexing="ij")


def gaussian_psf(sigma, *, size=None, ndim=2) -> np.ndarray:
    """Sampled Gaussian PSF; ``sigma`` is one value or one per axis (ZYX order).

    The default side is 2 * ceil(4 * sigma) + 1 per axis, which keeps all but ~1e-4 of the mass;
    an explicit ``size`` (e.g. 25 for protocol A) is honoured.
    """
    if isinstance(ndim, bool) or ndim not in (1, 2, 3):
        raise ValueError(f"ndim is {ndim!r}; accepted: 1, 2 or 3")
    if isinstance(sigma, (Sequence, np.ndarray)) and not isinstance(sigma, str):
        sigma = list(np.ravel(sigma)) if isinstance(sigma, np.ndarray) else sigma
        if len(sigma) != ndim:
            raise ValueError(
                f"sigma has {len(sigma)} values {tuple(sigma)!r} for ndim={ndim}; accepted: one "
                f"value, or exactly {ndim}"
            )
        sigmas = tuple(_positive(s, "sigma") for s in sigma)
    else:
        sigmas = (_positive(sigma, "sigma"),) * ndim
    sizes = _sizes(size, ndim, tuple(2 * math.ceil(4 * s) + 1 for s in sigmas))
    r2 = sum((g / s) ** 2 for g, s in zip(_grid(sizes), sigmas))
    return _normalised(np.exp(-0.5 * r2))


def disk_psf(radius, *, size=None) -> np.ndarray:
    """Uniform disk (geometric defocus) with anti-aliased edge pixels.

    Each pixel holds the fraction of its area inside the circle, estimated on an 8 x 8 sub-pixel
    grid, so the PSF changes smoothly with ``radius`` instead of in whole-pixel steps.
    """
    r = _positive(radius, "radius")
    sizes = _sizes(size, 2, (2 * math.ceil(r) + 1,) * 2)
    k = _SUPERSAMPLE
    sub = (np.arange(k, dtype=np.float64) + 0.5) / k - 0.5
    gy, gx = _grid(sizes)
    yy = gy[:, :, None, None] + sub[None, None, :, None]
    xx = gx[:, :, None, None] + sub[None, None, None, :]
    coverage = (yy**2 + xx**2 <= r * r).mean(axis=(2, 3))
    if coverage.sum() == 0:
        raise ValueError(f"radius is {radius!r}; accepted: a radius covering some pixel area")
    return _normalised(coverage)


def astigmatic_psf(sigma_major, sigma_minor, angle_deg, *, size=None) -> np.ndarray:
    """Anisotropic 2D Gaussian whose major axis is rotated ``angle_deg`` from the X axis.

    The angle turns from +X (columns) towards +Y (rows, downwards on screen), i.e. clockwise as
    displayed. The default side is 2 * ceil(4 * sigma_major) + 1 so every orientation fits.
    """
    smaj = _positive(sigma_major, "sigma_major")
    smin = _positive(sigma_minor, "sigma_minor")
    if smin > smaj:
        raise ValueError(f"sigma_minor ({sigma_minor!r}) is larger than sigma_major "
                         f"({sigma_major!r}); accepted: sigma_minor <= sigma_major (swap them "
                         "and add 90 to angle_deg)")
    if isinstance(angle_deg, bool) or not isinstance(angle_deg, Real):
        raise TypeError(f"angle_deg is {angle_deg!r}; accepted: a finite number (degrees)")
    if not math.isfinite(float(angle_deg)):
        raise ValueError(f"angle_deg is {angle_deg!r}; accepted: a finite number (degrees)")
    sizes = _sizes(size, 2, (2 * math.ceil(4 * smaj) + 1,) * 2)
    t = math.radians(float(angle_deg))
    gy, gx = _grid(sizes)
    u = gx * math.cos(t) + gy * math.sin(t)  # along the major axis
    v = -gx * math.sin(t) + gy * math.cos(t)  # along the minor axis
    return _normalised(np.exp(-0.5 * ((u / smaj) ** 2 + (v / smin) ** 2)))


def read_psf(path) -> np.ndarray:
    """Read a 2D (YX) or 3D (ZYX) PSF from a TIFF file.

    Singleton axes are dropped, small negative values (background-subtraction undershoot, down to
    5% of the peak) clipped to 0, a constant background subtracted, and the PSF padded with zero
    planes so that its centroid is its middle voxel and every side odd (``psf_file.clean_psf``;
    ``psf_file.file_notes`` says what changed). Returns float32 summing to 1.
    A PSF up to 4096 px a side and 64 Mpx is read (``psf_likeness.psf_series``);
    ``fit_psf_to_image`` crops one that is too large for its image. An ordinary image is
    refused (``psf_likeness.not_a_psf``).
    """
    import tifffile

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path is a {type(path).__name__}; accepted: a str or os.PathLike")
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else f"not found{_looked_in(path)}"
        raise FileNotFoundError(f"PSF file {shown_path(path)} {what}{_meant(path)}: give its "
                                "full path, or a PSF model")
    where = f"the PSF in {shown_path(path)}"
    try:
        with tifffile.TiffFile(path) as tif:
            series = psf_series(tif, path, where)  # a huge one refused before decoding it
            data, axes = np.squeeze(series.asarray()), series.axes
    except PsfFileRefused:
        raise
    except Exception as error:  # tifffile raises several types for broken files
        raise ValueError(f"cannot read {where}: not a readable TIFF ({error})") from None
    if "S" in axes:  # read as Z, Y, X it would be a 3-plane PSF of a colour image
        raise ValueError(f"{where} is a colour (RGB) image of shape {series.shape}; accepted: a "
                         "grayscale PSF (YX or ZYX), e.g. the mean of its colour channels")
    # Channels or time points would otherwise be read as Z planes and fail later, confusingly.
    names = {"C": "channels", "T": "time points"}
    extra = [f"{n} {names.get(a, a + ' planes')}" for a, n in zip(axes, series.shape)
             if n > 1 and a not in "ZYXQI"]
    if extra:
        fix = "save one of them (or their mean) as the PSF"
        if any(a == "C" and n > 1 for a, n in zip(axes, series.shape)):
            # a PSF per channel is given as a list of files (core/channel_psfs.py)
            fix = ("save each channel's PSF to its own file and give one per channel of the "
                   "image, in order, separated by ';': --psf \"A.tif;B.tif\"")
        raise ValueError(f"{where} has {', '.join(extra)} (axes {axes}, shape {series.shape}); "
                         f"accepted: one channel, 2D (YX) or 3D (ZYX): {fix}")
    if data.ndim not in (2, 3):
        raise ValueError(f"{where} has shape {data.shape} after dropping singleton axes; "
                         "accepted: 2D (YX) or 3D (ZYX)")
    psf = _valid_values(data, where)
    if reason := not_a_psf(psf):  # an image given as the PSF: refused before any work
        raise ValueError(f"{shown_path(path)} does not look like a PSF: {reason}; accepted: one "
                         "spot on a dark background (e.g. from psf-from-beads), or a model such "
                         "as 'gaussian:1.6'")
    # the file's own values: its negatives, background and centre are judged on them
    psf, notes = clean_psf(np.asarray(data, dtype=np.float64))
    remember_notes(path, notes)
    return _normalised(psf)


def _valid_values(data, where: str) -> np.ndarray:
    """float64 copy of a PSF's values, small negatives clipped; one ValueError for anything a PSF
    cannot hold (no values, NaN/Inf, real negatives, nothing positive)."""
    data = np.asarray(data)
    if data.dtype.kind not in "uif":
        raise TypeError(f"{where} has dtype {data.dtype}; accepted: integer or float values")
    if data.size == 0:
        raise ValueError(f"{where} is empty (shape {data.shape}); accepted: a non-empty PSF")
    psf = data.astype(np.float64)  # a copy: what the user gave stays as it was
    if not np.all(np.isfinite(psf)):
        raise ValueError(f"{where} holds NaN or infinite values; accepted: finite values >= 0")
    peak = psf.max()
    if peak <= 0:
        raise ValueError(f"{where} has no positive values (all zeros or negative); accepted: "
                         "a PSF with positive total intensity")
    if psf.min() < -_NEGATIVE_TOLERANCE * peak:
        raise ValueError(
            f"{where} holds negative values down to {psf.min():.3g} ({-psf.min() / peak:.0%} "
            f"of its peak {peak:.3g}); accepted: values >= 0 (undershoot to -5% of the peak is "
            "clipped; clip larger ones yourself, or make the PSF with psf-from-beads)"
        )
    return np.clip(psf, 0.0, None)


def check_psf(kernel, spatial_dims: int) -> np.ndarray:
    """A PSF checked for an image with ``spatial_dims`` (2: YX, 3: ZYX) spatial axes.

    Returns a float32 copy summing to 1 (undershoot above -5% of the peak clipped); raises one
    ValueError for an empty PSF, NaN/Inf, negative values, all zeros, or a number of dimensions
    other than ``spatial_dims``. The kernel given is not modified.
    """
    if isinstance(spatial_dims, bool) or spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims is {spatial_dims!r}; accepted: 2 (YX) or 3 (ZYX)")
    if hasattr(kernel, "detach"):  # a torch tensor
        kernel = kernel.detach().cpu().numpy()
    if not isinstance(kernel, np.ndarray):
        raise TypeError(f"psf is a {type(kernel).__name__}; accepted: a numpy array")
    if kernel.ndim != spatial_dims:
        axes = "YX" if spatial_dims == 2 else "ZYX"
        hint = (
            "a 2D PSF, e.g. the in-focus plane of a 3D one" if spatial_dims == 2
            else "a 3D PSF, or a 2D one to deblur plane by plane"
        )  # fmt: skip
        raise ValueError(
            f"psf has {kernel.ndim} dimension(s) (shape {kernel.shape}) but the image has "
            f"{spatial_dims} spatial dimensions ({axes}); accepted: {hint}"
        )
    return _normalised(_valid_values(kernel, f"psf (shape {kernel.shape})"))


def fit_psf_to_image(kernel, image_shape, *, image_label: str | None = None,
                     psf_label: str | None = None) -> tuple[np.ndarray, str | None]:
    """A PSF no larger than the image: ``(kernel, None)`` when it already is, else the PSF cut
    to its support and a one-line note saying what was done (naming the image ``image_label``,
    by default its shape, and the PSF ``psf_label``, by default its shape).

    ``image_shape`` is the image's spatial shape, one entry per PSF axis. A PSF as large as or
    larger than the image on any axis (e.g. a whole bead image) has its background (the median
    of its outermost pixels, when above 1e-3 of the peak) subtracted, is set to 0 outside its
    support (the pixels above 1e-3 of the peak and 3 noise sigmas that connect to the peak:
    noise far out would otherwise add a floor), centred on the support's centroid, cut to the
    support but to fewer pixels than the image on every axis, and normalised to sum 1.
    """
    if not isinstance(image_shape, Sequence) or not all(
        isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0 for n in image_shape
    ):
        raise TypeError(f"image_shape is {image_shape!r}; accepted: a tuple of positive ints")
    image_shape = tuple(int(n) for n in image_shape)
    psf = check_psf(kernel, len(image_shape)).astype(np.float64)
    # an array cleaned as a file is; one as large as the image has its own background below
    cleaned, said = _cleaned_array(psf, kernel) if psf_label is None else (psf, None)
    if all(k < n for k, n in zip(cleaned.shape, image_shape)):
        return (_normalised(cleaned) if said else psf.astype(np.float32)), said
    border = np.concatenate([np.moveaxis(psf, a, 0)[[0, -1]].ravel() for a in range(psf.ndim)])
    peak = psf.max()
    background = float(np.median(border))
    # A border below the support level is the PSF's own faint wings (a computed PSF), not
    # camera background: it stays.
    background = background if background > _SUPPORT_LEVEL * peak else 0.0
    noise = 1.4826 * float(np.median(np.abs(border - np.median(border))))
    psf = np.clip(psf - background, 0.0, None)
    if psf.max() <= 3 * noise:  # named: the file the user gave, else the array's shape
        named = psf_label or f"array (shape {psf.shape})"
        raise ValueError(f"the PSF {named} has nothing clearly above its background (border "
                         f"median {background / peak:.1%} of the peak); accepted: a PSF "
                         "brighter than its border, e.g. one bead cut out of a bead image")
    psf = np.where(_support(psf, noise), psf, 0.0)
    points = np.argwhere(psf > 0)
    weights = psf[psf > 0]
    centre = np.rint((points * weights[:, None]).sum(0) / weights.sum()).astype(int)
    windows = []
    for axis, (c, n) in enumerate(zip(centre, image_shape)):
        largest = n - 1 if n % 2 == 0 else n - 2  # the largest odd side below the image's
        half = min(int(np.abs(points[:, axis] - c).max()), max(largest, 1) // 2)
        windows.append((c - half, c + half + 1))
    pads = [(max(0, -lo), max(0, hi - k)) for (lo, hi), k in zip(windows, psf.shape)]
    padded = np.pad(psf, pads)
    cut = padded[tuple(slice(lo + p[0], hi + p[0]) for (lo, hi), p in zip(windows, pads))]
    kept = cut.sum() / psf.sum()
    subtracted = f", background {100 * background / peak:.2g}% of the peak subtracted" if (
        background) else ""
    note = (f"the PSF {psf_label or tuple(kernel.shape)} is as "
            f"large as or larger than the image {image_label or image_shape}: cut to "
            f"{cut.shape} around its centroid ({kept:.1%} of its intensity kept{subtracted}), "
            "normalised to sum 1")
    return _normalised(cut), note


def _cleaned_array(psf: np.ndarray, given) -> tuple[np.ndarray, str | None]:
    """An array cleaned as a file is (``clean_psf``), the line saying so; else as it is, None."""
    cleaned, notes = clean_psf(psf)
    if not notes:
        return psf, None
    return cleaned, (f"the PSF array {tuple(given.shape)}: {'; '.join(notes)}, as for a PSF file "
                     "(on a copy: the array given is not changed)")


def _support(psf: np.ndarray, noise: float) -> np.ndarray:
    """The pixels of the PSF: above 1e-3 of the peak and 3 noise sigmas, connected (within 2
    pixels, so Airy rings count) to the peak; isolated noise pixels are not part of it."""
    from scipy import ndimage

    above = psf >= max(_SUPPORT_LEVEL * psf.max(), 3 * noise)
    near = ndimage.binary_dilation(above, iterations=2)
    labels, _ = ndimage.label(near)
    return above & (labels == labels[np.unravel_index(np.argmax(psf), psf.shape)])


def _numbers(text: str, counts: tuple[int, ...], spec: str) -> list[float]:
    try:
        values = [float(p) for p in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in counts:
        raise ValueError(f"psf spec {spec!r} is not understood; accepted: {_SPEC_FORMS}")
    return values


def unknown_source_message(spec: str) -> str:
    """The line for a PSF source that is neither a model nor an existing file: files joined by
    ',' are told the ';' of one PSF per channel; a relative path, the folder it was sought in."""
    text, given = str(spec).strip(), f"psf={shown_path(spec)}"
    if text and Path(text).is_dir():  # 'no such file was found' of a folder that is there
        return (f"{given} is a folder, not a PSF image; give the PSF's .tif file (in it or "
                "elsewhere), or a PSF model such as 'gaussian:1.6'")
    parts = [p.strip() for p in text.split(",")]
    if len(parts) > 1 and all(Path(p).is_file() for p in parts):
        return (f"{given} is not understood: one PSF per channel is separated by ';', not ',' "
                f"(psf={shown_path(';'.join(parts))})")
    if text.lower().endswith((".tif", ".tiff")) or os.sep in text or "/" in text:
        return (f"{given} names no file{_looked_in(text)}{_meant(spec)}: give the file's full "
                "path, or a PSF model such as 'gaussian:1.6'")
    return (f"{given} is not understood: no PSF model of that name and no such file was "
            f"found{_looked_in(text)}{_meant(spec)}; accepted: {_SPEC_FORMS}")


def _looked_in(path) -> str:  # a relative path is the current folder's, which no route shows
    return "" if Path(path).is_absolute() else f" (looked in {shown_path(os.getcwd())})"


def _meant(given) -> str:  # 'psf' given, 'psf.tif' there (Windows hides the extension)
    found = similar_psf_file(given)
    return f" (did you mean {shown_path(found)}?)" if found else ""


def is_psf_model(text) -> bool:
    """Whether ``text`` names a computed PSF ('gaussian:1.6', 'widefield:na=...') not a file."""
    # 'widefield:...;widefield:...' is one PSF per channel, not a model
    return (isinstance(text, str) and text.partition(":")[0].strip().lower() in PSF_MODELS
            and not channel_sources(text))


def optics_arguments(kind: str, text: str, spec: str,
                     required: tuple[str, ...] = _REQUIRED_OPTICS_KEYS) -> dict:
    keys = _CONFOCAL_KEYS if kind == "confocal" else _OPTICS_KEYS
    accepted = ", ".join(keys)
    arguments = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, eq, value = (part.strip() for part in item.partition("="))
        key = key.lower()
        if not eq or key not in keys:
            raise ValueError(
                f"psf spec {spec!r}: {item!r} is not KEY=VALUE with a known key; accepted keys "
                f"for {kind}: {accepted} (lengths in micrometres)"
            )
        if key in arguments:
            raise ValueError(f"psf spec {spec!r} gives {key} twice; accepted: each key once")
        try:
            arguments[key] = keys[key](value)
        except ValueError:
            kind_of = "an integer" if keys[key] is int else "a number"
            raise ValueError(
                f"psf spec {spec!r}: {key}={value!r} is not {kind_of}; accepted: {key}=<{kind_of}>"
            ) from None
    if "dz" in arguments and arguments.get("nz", 1) == 1:
        from .optics import DZ_WITHOUT_NZ

        # it built a 2D PSF: a stack then ran plane by plane (RL ended below its input)
        raise ValueError(f"psf spec {spec!r}: {DZ_WITHOUT_NZ}")
    missing = [k for k in required if k not in arguments]
    if missing:
        raise ValueError(
            f"psf spec {spec!r} lacks {', '.join(missing)}; accepted: "
            f"'{kind}:na=1.4,wavelength=0.52,pixel=0.065' (micrometres) plus any of {accepted}"
        )
    return arguments


def calibration_gaps(spec) -> list[str]:
    """The keys an image's calibration can give that the optics spec ``spec`` lacks: 'pixel'
    (from its X/Y size) and 'dz' (from its Z step, where nz= makes it 3D); [] for anything
    else (another model, a file, a spec that lacks na= or wavelength= too)."""
    if not (isinstance(spec, str) and is_psf_model(spec)):
        return []
    kind, _, rest = spec.strip().partition(":")
    kind = kind.strip().lower()
    if kind not in ("widefield", "confocal"):
        return []
    keys = [item.partition("=")[0].strip().lower() for item in rest.split(",")]
    if "na" not in keys or "wavelength" not in keys:
        return []
    gaps = ["pixel"] if "pixel" not in keys else []
    nz = [item.partition("=")[2] for item in rest.split(",")
          if item.partition("=")[0].strip().lower() == "nz"]
    three_d = bool(nz) and nz[0].strip() not in ("", "1")
    return gaps + (["dz"] if three_d and "dz" not in keys else [])


def calibration_values(pixel_size) -> dict[str, float]:
    """The pixel= and dz= an optics PSF takes from an image's pixel sizes (um per axis):
    pixel= where Y and X are both given and within 5 % of each other (the model has square
    pixels), dz= from a Z step. A size no light microscope has (a TIFF's 72 dpi default:
    353 um) is no calibration. The CLI's files and the docks' layers use the same rule."""
    from .pixel_units import PLAUSIBLE_UM

    sizes = {a: float(v) for a, v in (pixel_size or {}).items()
             if isinstance(v, Real) and PLAUSIBLE_UM[0] < v < PLAUSIBLE_UM[1]}
    found = {}
    if {"Y", "X"} <= sizes.keys() and abs(sizes["Y"] - sizes["X"]) <= 0.05 * sizes["X"]:
        found["pixel"] = sizes["X"]
    if "Z" in sizes:
        found["dz"] = sizes["Z"]
    return found


def with_calibration(spec: str, pixel_size) -> tuple[str, str | None]:
    """An optics spec lacking pixel= (or dz= with nz=) completed from an image's pixel size
    (um per axis, ``pixel_size``: ``calibration_values``), and one line saying so;
    ``(spec, None)`` where it lacks none, or where the image does not state them: the spec's
    own check then refuses it. What the image states is filled."""
    gaps = calibration_gaps(spec)
    added = {k: v for k, v in calibration_values(pixel_size).items() if k in gaps}
    if not added:
        return spec, None
    text = spec.strip().rstrip(",") + "".join(f",{k}={v:.6g}" for k, v in added.items())
    kind = spec.strip().partition(":")[0].strip().lower()
    said = " and ".join(f"{k}={v:.6g} um" for k, v in added.items())
    return text, f"{kind} PSF: {said} from the file's calibration"


@functools.lru_cache(maxsize=16)
def _optics_psf(kind: str, text: str, spec: str) -> np.ndarray:
    # Cached: a method spec is checked, then built, and a defocused 3D PSF takes ~0.1-1 s.
    from . import optics

    arguments = optics_arguments(kind, text, spec)
    na, wavelength, pixel = (arguments.pop(k) for k in _REQUIRED_OPTICS_KEYS)
    make = optics.confocal_psf if kind == "confocal" else optics.widefield_psf
    psf = make(na, wavelength, pixel, **arguments)
    psf.setflags(write=False)
    return psf


def parse_psf(spec) -> np.ndarray:
    """Build a PSF from a short text spec (see the accepted forms in the error message)."""
    if isinstance(spec, os.PathLike):
        return read_psf(spec)
    if not isinstance(spec, str):
        raise TypeError(f"spec is a {type(spec).__name__}; accepted: a str, {_SPEC_FORMS}")
    text = spec.strip()
    kind, sep, rest = text.partition(":")
    kind = kind.strip().lower()
    if sep and kind in PSF_MODELS:
        try:
            return _model_psf(kind, rest, spec)
        except ValueError:
            # a file named like a model ('gaussian:v2.tif' on macOS/Linux) is still that file
            if Path(text).is_file():
                return read_psf(text)
            raise
    # any other text is a path: a drive letter ('C:\\data\\psf.tif') is no model name
    if text.lower().endswith((".tif", ".tiff")) or Path(text).is_file():
        return read_psf(text)
    if kind == "estimate" and not sep:
        raise ValueError("psf 'estimate' is estimated from the image being deblurred and has "
                         "no value here; give a PSF file or model, or run "
                         "'microdeblur psf-estimate IMAGE -o psf.tif' first")
    raise ValueError(unknown_source_message(spec))


def _model_psf(kind: str, rest: str, spec: str) -> np.ndarray:
    if kind == "gaussian":
        values = _numbers(rest, (1, 2), spec)
        return gaussian_psf(values[0] if len(values) == 1 else tuple(values), ndim=2)
    if kind == "disk":
        return disk_psf(_numbers(rest, (1,), spec)[0])
    if kind == "astig":
        smaj, smin, angle = _numbers(rest, (3,), spec)
        return astigmatic_psf(smaj, smin, angle)
    return _optics_psf(kind, rest, spec).copy()  # widefield, confocal


def in_focus_plane(psf: np.ndarray) -> tuple[np.ndarray, int | None]:
    """A 2D PSF as it is, or the plane of a 3D PSF holding its brightest pixel (and its index)."""
    if psf.ndim == 2:
        return psf, None
    if psf.ndim == 3:
        z = int(np.unravel_index(int(np.argmax(psf)), psf.shape)[0])
        return psf[z], z
    raise ValueError(f"psf has shape {psf.shape}; accepted: a 2D (Y, X) or 3D (Z, Y, X) PSF")


def in_focus_share(kernel) -> float:
    """The share of a 3D PSF's light in its in-focus plane (``in_focus_plane``): a few % for a
    widefield PSF, which spreads its light over every plane, more for a confocal one. It
    decides whether 'auto' deconvolves a z-stack in 3D (``bundled.auto_runs_in_3d``)."""
    kernel = np.asarray(kernel, dtype=np.float64)
    return float(in_focus_plane(kernel)[0].sum() / kernel.sum())


def psf_preview(source, *, decades: float = 3.0) -> tuple[np.ndarray, str]:
    """What a PSF looks like, for a small preview: ``(image, description)``.

    ``source`` is what ``--psf`` takes (a model string, a TIFF path) or an array (2D or 3D). The
    image is the in-focus plane (for 3D: the plane with the brightest pixel) as uint8 on a log
    scale over ``decades`` decades below the peak, so the faint wings that decide how a
    deconvolution rings are visible; the description is one line with the PSF's size and FWHM.
    Raises the same one-line ValueError/TypeError/OSError as the deblur would for a bad PSF.
    """
    from .psf_shape import fwhm_words

    if isinstance(decades, bool) or not (isinstance(decades, Real) and decades > 0):
        raise ValueError(f"decades is {decades!r}; accepted: a number > 0")
    if isinstance(source, (str, os.PathLike)):
        try:
            psf = parse_psf(source)
        except ValueError as error:  # name the PSF, as MethodSpec.check does
            message = str(error)
            raise ValueError(message if message.startswith("psf")
                             else f"psf={shown_path(source)}: {message}") from None
    else:
        psf = np.asarray(source)
    if psf.ndim not in (2, 3):
        raise ValueError(f"psf has shape {psf.shape}; accepted: 2D (YX) or 3D (ZYX)")
    psf = check_psf(psf, psf.ndim).astype(np.float64)
    plane, where = psf, ""
    if psf.ndim == 3:
        plane, z = in_focus_plane(psf)
        where = f", in-focus plane z={z} shown ({in_focus_share(psf):.0%} of the light)"
    relative = np.maximum(plane / plane.max(), 10.0 ** -decades)
    image = np.rint(255 * (1 + np.log10(relative) / decades)).astype(np.uint8)
    size = " x ".join(str(n) for n in psf.shape)  # FWHM along a slanted PSF's own axes
    description = (f"{psf.ndim}D PSF {size} px, {fwhm_words(psf, plane)}{where} "
                   f"(log scale, {decades:g} decades)")
    return image, description
