"""PSNR and SSIM of one plane, or of every plane along an axis, against a ground truth, as
progress generators (the Compare & QC dock shows PSNR while SSIM is computed).

Intensities are first mapped with the ground truth's reference scale
(``metrics.reference_scale``: uint8 / 255, other integers / their maximum, floats and integers
holding negative values min-max), the scale of the whole ground-truth image, so a plane is
scored as ``metrics.evaluate`` scores it inside the stack; data_range is then 1 (see
docs/evaluation.md).
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterable

import numpy as np
from scipy import ndimage

from . import metrics
from .progress import drive

MIN_SIDE = 11  # SSIM's window
UNITS_FACTOR = 4.0  # mean intensities further apart than this: not the same units
#: Gaussian sigma (px, in Y and X) of the low-pass at which two images' contrasts are compared:
#: blurring and deblurring change detail finer than this and keep what is left (synthetic
#: protocols A and B, inputs and RL outputs: within 1.04x), a gain between two recordings does
#: not (widefield against confocal of one field: 2.8-3.9x, inputs and deblurred alike)
SCALE_SIGMA = 8.0
#: low-pass contrasts further apart than this factor: two intensity scales
SCALE_FACTOR = 2.0
SCALE_PIXELS = 512 * 512  # larger planes are mean-binned first (a low-pass needs no more)
SCALE_PLANES = 32  # a stack's contrast from at most this many planes, evenly spread


def _lowpass_sd(image, channel_axis) -> float:
    """Standard deviation of ``image`` smoothed by ``SCALE_SIGMA`` px in its last two spatial
    axes (Y, X), every plane and channel apart."""
    a = np.asarray(image)
    if channel_axis is not None:
        a = np.moveaxis(a, channel_axis, 0)
    a = a.reshape(-1, *a.shape[-2:])
    chosen = np.unique(np.linspace(0, len(a) - 1, min(len(a), SCALE_PLANES)).round().astype(int))
    f = max(1, math.ceil(math.sqrt(a.shape[1] * a.shape[2] / SCALE_PIXELS)))
    ny, nx = a.shape[1] // f * f, a.shape[2] // f * f
    # binned plane by plane from views: picking the planes first copied them whole (a 4096^2
    # float32 plane: 64 MB more for a check that reads 512^2 values)
    a = np.stack([a[i, :ny, :nx].reshape(ny // f, f, nx // f, f).mean(axis=(1, 3),
                                                                      dtype=np.float64)
                  for i in chosen])
    return float(ndimage.gaussian_filter(a, (0, SCALE_SIGMA / f, SCALE_SIGMA / f)).std())


def pooled_stack_psnr(plane_psnrs) -> float:
    """The PSNR of the squared error pooled over a stack's planes (each scored on one data
    range), from their PSNRs: the stack as one array. Beside ``metrics.stack_psnr`` (the mean
    of the planes that differ from the reference, the figure docs/evaluation.md reports): a
    plane equal to the reference counts here as no error, where that mean leaves it out, so a
    deblur that damaged sharp planes (equal to the truth in the blurry stack) shows here and
    not there. Infinite only when every plane is; NaN if a plane is NaN or none is given."""
    values = np.asarray(plane_psnrs, dtype=np.float64).ravel()
    if values.size == 0 or np.isnan(values).any():
        return float("nan")
    mse = float(np.mean(10.0 ** (-values / 10.0)))  # MSE / data_range^2 of each plane
    return float(-10.0 * np.log10(mse)) if mse > 0 else float("inf")


def scale_mismatch(image, reference, *, channel_axis=None, dark: float = 0.0) -> float | None:
    """How many times ``image``'s intensity scale is the reference's when they look like two
    scales (None when they do not): the ratio of their contrasts smoothed over
    ``SCALE_SIGMA`` px when over ``SCALE_FACTOR`` apart, else that of their means above
    ``dark`` (the reference's dark level) when over ``UNITS_FACTOR`` apart. Blurring and
    deblurring keep both, so such a ratio means other units (uint8 against uint16), another
    exposure or gain (a real pair recorded apart), which would score a PSNR that says little.
    The one check of ``microdeblur evaluate`` and the Compare & QC dock."""
    sd_ref = _lowpass_sd(reference, channel_axis)
    if sd_ref > 0 and math.isfinite(sd_ref):
        ratio = _lowpass_sd(image, channel_axis) / sd_ref
        if ratio > 0 and math.isfinite(ratio) and not 1 / SCALE_FACTOR <= ratio <= SCALE_FACTOR:
            return ratio
    ref_mean = float(np.mean(reference, dtype=np.float64)) - dark
    mean = float(np.mean(image, dtype=np.float64)) - dark
    if ref_mean > 0 and mean > 0 and math.isfinite(mean) and math.isfinite(ref_mean):
        ratio = mean / ref_mean
        if not 1 / UNITS_FACTOR <= ratio <= UNITS_FACTOR:
            return ratio
    return None


def flat_value(image, reference) -> float | None:
    """The one value every pixel of ``image`` holds where ``reference`` varies (an integer
    division or a cast to uint8 that zeroed a result), else None. Such an image has no
    intensity scale to compare (``scale_mismatch`` passes it) and its PSNR and SSIM say
    nothing of deblurring: ``microdeblur evaluate`` and the Compare & QC dock say so."""
    image = np.asarray(image)
    if image.size == 0 or not np.isfinite(image.flat[0]):
        return None
    first = image.flat[0]
    if np.any(image != first) or not np.any(np.asarray(reference) != np.asarray(reference).flat[0]):
        return None
    return float(first)


def flat_words(value: float, what: str) -> str:
    """The line for a ``flat_value``: ``what`` ('the prediction', 'the deblurred layer')."""
    return (f"{what} holds one value ({value:.4g}) in every pixel, where the reference varies: "
            "PSNR and SSIM of it say nothing of deblurring; check how it was made (an integer "
            "division or a cast to uint8 can turn a result into zeros)")


def flat_reference_words(value: float) -> str:
    """The line for a reference whose every pixel holds ``value`` (``flat_value(reference,
    prediction)``): most likely not the file meant."""
    return (f"the reference holds one value ({value:.4g}) in every pixel, where the prediction "
            "varies: no sharp image to score against; check that it is the reference you meant")


def flat_lines(prediction, reference) -> list[str]:
    """The lines for a prediction or a reference that holds one value in every pixel (none
    where both vary, or neither does)."""
    lines = []
    if (value := flat_value(prediction, reference)) is not None:
        lines.append(flat_words(value, "the prediction"))
    if (value := flat_value(reference, prediction)) is not None:
        lines.append(flat_reference_words(value))
    return lines


def warn_scale_mismatch(prediction, reference, channel_axis=None, dark: float = 0.0) -> None:
    """A ``DeblurWarning`` when ``scale_mismatch`` finds two intensity scales: what
    ``microdeblur evaluate`` and the Compare & QC dock say, for ``metrics.evaluate`` called
    from Python (a uint8 prediction of a uint16 reference scored 17.18 dB silently)."""
    import warnings

    from .notes import DeblurWarning

    flat = flat_lines(prediction, reference)
    for line in flat:
        warnings.warn(f"evaluate: {line}", DeblurWarning, stacklevel=3)
    # one value in every pixel has no scale to compare (a flat reference's contrast is ~0:
    # the ratio read 6.36e+15x): that line alone, as microdeblur evaluate says it
    ratio = None if flat else scale_mismatch(prediction, reference, channel_axis=channel_axis,
                                             dark=dark)
    if ratio is not None:
        warnings.warn(
            f"evaluate: the prediction's contrast over {SCALE_SIGMA:g} px (or mean), which "
            f"blurring and deblurring keep, is {ratio:.3g}x the reference's, as if on two "
            "intensity scales; both are scored as they are on the reference's: save both at "
            "the same bit depth and scale, or for a pair recorded apart match first: m = "
            "napari_microdeblur.core.plane_metrics.match_to_reference(prediction, reference, "
            "axes='YX', border=16), then evaluate(m['image'][m['keep']], "
            "m['reference'][m['keep']], border=m['border'], "
            "ref_scale=napari_microdeblur.core.metrics.reference_scale(reference))",
            DeblurWarning, stacklevel=3)


def unit_mismatch(planes: dict, *, rgb: bool = False, dark: float = 0.0) -> dict:
    """``{name: ratio}`` for the ``'blurry'`` and ``'deblurred'`` planes on another intensity
    scale than ``planes['truth']`` (``scale_mismatch``)."""
    out = {}
    for name in ("blurry", "deblurred"):
        if name in planes:
            ratio = scale_mismatch(planes[name], planes["truth"], dark=dark,
                                   channel_axis=-1 if rgb else None)
            if ratio is not None:
                out[name] = ratio
    return out


MATCH_MIN_PLANES = 8  # a Z axis with fewer planes is not registered (its window would be 0)
MATCH_UPSAMPLE = 10  # registration to a tenth of a pixel


def _translation(moving: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """Subpixel shift moving ``moving`` onto ``fixed`` (2D or 3D): ``pair_matching.register``
    in 2D; in 3D the same smoothed, Hann-windowed cross-correlation over all three axes."""
    from skimage.registration import phase_cross_correlation

    from .pair_matching import REGISTER_SIGMA, register

    if moving.ndim == 2:
        return register(moving[None], fixed[None], MATCH_UPSAMPLE)
    window = np.ones(())
    for n in fixed.shape:
        window = np.multiply.outer(window, np.hanning(n))
    f = ndimage.gaussian_filter(fixed, REGISTER_SIGMA)
    m = ndimage.gaussian_filter(moving, REGISTER_SIGMA)

    def step(a):
        shift, _, _ = phase_cross_correlation((f - f.mean()) * window, (a - a.mean()) * window,
                                              upsample_factor=MATCH_UPSAMPLE, normalization=None)
        return np.asarray(shift, dtype=np.float64)

    total = step(m)
    for _ in range(2):  # the window pulls the peak towards 0: refined on the shifted stack
        total = total + step(ndimage.shift(m, total, order=3, mode="nearest"))
    return total


def _fit(image: np.ndarray, moved: np.ndarray, inner: tuple) -> dict:
    """Least-squares gain and offset of ``image`` onto ``moved`` over ``inner``, with the
    correlation and the fit's mean squared residual (reference units)."""
    p, r = image[inner].ravel(), moved[inner].ravel()
    var, var_r = float(np.var(p)), float(np.var(r))
    covariance = float(np.mean((p - p.mean()) * (r - r.mean())))
    gain = covariance / var if var > 0 else 0.0
    correlation = covariance / math.sqrt(var * var_r) if var > 0 and var_r > 0 else 0.0
    return {"gain": gain, "offset": float(r.mean() - gain * p.mean()),
            "correlation": correlation, "residual": max(0.0, var_r - gain * covariance)}


def _covered(shift, reg, axes: str, shape, border: int) -> tuple:
    """(keep, planes, border, inner) a shift leaves scored: the planes it does not uncover,
    the border widened to its width in Y and X."""
    keep = [slice(None)] * len(shape)
    planes = None
    for i in reg:
        if axes[i] == "Z":  # the planes the shift uncovers hold copies of an edge plane
            n, m = shape[i], min(shape[i] - 1, math.ceil(abs(shift[i]) - 1e-6))
            planes = (m, n) if shift[i] > 0 else (0, n - m)
            keep[i] = slice(*planes)
    wide = max([border] + [math.ceil(abs(shift[i]) - 1e-6) for i in reg if axes[i] in "YX"])
    inner = list(keep)
    for i in (axes.index("Y"), axes.index("X")):
        if shape[i] > 2 * wide:
            inner[i] = slice(wide, shape[i] - wide)
    return tuple(keep), planes, wide, tuple(inner)


def match_to_reference(image, reference, *, axes: str, border: int, shift=None) -> dict:
    """A real pair's scoring (docs/evaluation.md): ``reference`` registered onto ``image`` by
    a subpixel translation along its Y, X (and Z, of 8 planes or more) axes, then ``image``'s
    least-squares gain and offset onto the registered reference over the pixels scored (the
    planes the shift leaves covered, ``border`` px or the shift's width off Y and X).

    The registration is kept only when its fit beats that at zero shift over the same pixels
    (``kept_zero`` True otherwise): a heavily defocused pair (BBBC006, recorded registered)
    was shifted by up to 16 px, its fit up to 7.2 dB worse than at zero shift. ``shift``
    ({axis: px}, another match's ``shift``) skips registration: the input and every result
    scored against one reference share one shift, so none gains by registration alone.

    Returns ``image`` (gain * image + offset) and ``reference`` (the shifted one), both float64
    and of the image's shape, ``keep`` (the index of the planes to score), ``shift`` ({axis:
    px} moving the reference onto the image), ``gain``, ``offset`` (reference units),
    ``border``, ``planes`` ((start, stop) along Z, or None), ``correlation``, ``kept_zero``
    and ``field``."""
    image = np.asarray(image, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    reg = [i for i, a in enumerate(axes) if a in "YX"
           or (a == "Z" and image.shape[i] >= MATCH_MIN_PLANES)]
    found = np.zeros(image.ndim)
    if shift is not None:
        found[reg] = [float(shift.get(axes[i], 0.0)) for i in reg]
    else:
        others = tuple(i for i in range(image.ndim) if i not in reg)
        found[reg] = _translation(ref.mean(axis=others), image.mean(axis=others))
    keep, planes, wide, inner = _covered(found, reg, axes, image.shape, border)
    moved = ndimage.shift(ref, found, order=3, mode="nearest") if found.any() else ref
    fit, kept_zero = _fit(image, moved, inner), False
    if shift is None and found.any():
        at_zero = _fit(image, ref, inner)  # on the same pixels: the two fits compare
        if at_zero["residual"] <= fit["residual"]:
            found, moved, kept_zero = np.zeros(image.ndim), ref, True
            keep, planes, wide, inner = _covered(found, reg, axes, image.shape, border)
            fit = _fit(image, ref, inner)
    return {"image": fit["gain"] * image + fit["offset"], "reference": moved, "keep": keep,
            "gain": fit["gain"], "offset": fit["offset"],
            "shift": {axes[i]: float(found[i]) for i in reg}, "border": wide,
            "planes": planes, "correlation": fit["correlation"], "kept_zero": kept_zero,
            "field": {axes[i]: int(image.shape[i]) for i in reg}}


#: a matched pair less correlated than this after registration is said to score little
MATCH_MIN_CORRELATION = 0.5


def match_doubt(match: dict) -> str | None:
    """One line when a ``match_to_reference`` says the two images hardly describe one field,
    else None: ``match_reason`` and what it means for the scores."""
    why = match_reason(match)
    return None if why is None else f"{why}; the PSNR and SSIM then say little"


def match_reason(match: dict) -> str | None:
    """Why a ``match_to_reference`` hardly describes one field, else None: a gain at or below
    0 (anti-correlated: brightfield or phase contrast inverts on one side of focus), a
    correlation under ``MATCH_MIN_CORRELATION``, or a shift over a tenth of the field along Y
    or X. Real brightfield pairs 10 um from focus were scored with gains -0.33 to 0.31 and a
    55 px shift in a 256 px crop, silently: the fit then matched the background, and a
    re-blurred input scored as well as any deblur."""
    far = [f"{a.lower()} {v:+.1f} px" for a, v in match["shift"].items()
           if a in "YX" and abs(v) > 0.1 * match.get("field", {}).get(a, math.inf)]
    if match["gain"] <= 0:
        why = (f"anti-correlated with the reference (fitted gain {match['gain']:.3g}): in "
               "brightfield or phase contrast the contrast inverts on one side of focus, or "
               "they are not the same field")
    elif match.get("correlation", 1.0) < MATCH_MIN_CORRELATION:
        why = (f"hardly correlated with the reference after matching (r "
               f"{match['correlation']:.2f}): not the same field, or too far from focus")
    elif far:
        why = (f"registered by a shift of {', '.join(far)}, over a tenth of the field: check "
               "that they are the same field")
    else:
        return None
    return why


def match_words(match: dict, what: str = "the prediction", scored: bool = True) -> str:
    """One line on a ``match_to_reference``: the shift, the gain and offset, the planes."""
    shift = ", ".join(f"{a.lower()} {v:+.2f}" for a, v in match["shift"].items())
    planes = match["planes"]
    kept = "" if planes is None else f"; the shifted reference covers planes {planes[0]}-" \
        f"{planes[1] - 1}" + (" (the others are not scored)" if scored else "")
    if match.get("kept_zero"):
        moved = ("reference kept in place (the registered shift fitted worse than none: a "
                 "defocused pair misregisters)")
    else:
        moved = f"reference shifted by ({shift}) px onto {what}"
    if match.get("registered_on"):  # one shift shared by every image scored
        moved += f" (the shift registered on {match['registered_on']}, shared by all)"
    return (f"matched: {moved}; {what} x {match['gain']:.4g} {match['offset']:+.4g} (gain, "
            f"offset in the reference's units){kept}")


def describe_scale(dtype, offset: float, scale: float) -> str:
    """One sentence on how intensities were mapped for a ground truth of ``dtype``."""
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        rule = "uint8 ground truth: divided by 255"
    elif dtype.kind in "iu" and offset < 0:
        # reference_scale's offset is non-zero for an integer only when it holds negatives
        rule = (f"{dtype} ground truth with negative values: min-max [{offset:g}, "
                f"{offset + scale:g}] mapped to [0, 1]")
    elif dtype.kind in "iu":
        rule = f"{dtype} ground truth: divided by its maximum ({scale:g})"
    else:
        rule = f"float ground truth: min-max [{offset:g}, {offset + scale:g}] mapped to [0, 1]"
    return f"Intensity scale: {rule}; data_range 1."


def small_plane_border(ny: int, nx: int, border: int) -> int:
    """The border scored on a ``ny`` x ``nx`` plane where ``border`` px are asked for by
    default (the Compare & QC dock's 'exclude border' tick): ``border`` on a plane of
    ``MIN_SIDE`` px or more (too wide for it: refused by ``_crop``), and on a plane under
    SSIM's window, scored with PSNR alone, the widest that leaves a pixel
    (``metrics_axes.fitting_border``, as ``microdeblur evaluate`` narrows its default)."""
    if min(ny, nx) >= MIN_SIDE:
        return border
    from .metrics_axes import fitting_border

    return fitting_border(ny, nx, border, MIN_SIDE)


def ssim_gap_words(ny: int, nx: int) -> str:
    """Why a ``ny`` x ``nx`` plane has no SSIM (a strip, a line scan), in the dock's words."""
    return (f"SSIM n/a: the slice is {ny} x {nx} px, under SSIM's {MIN_SIDE} x {MIN_SIDE} "
            "window; PSNR alone is scored")


def _crop(truth_plane, border: int, box):
    if box is not None:
        (y0, y1), (x0, x1) = box
        return slice(y0, y1), slice(x0, x1)
    ny, nx = truth_plane.shape[:2]
    if min(ny, nx) < MIN_SIDE:  # PSNR alone (``ssim_gap_words``): a border leaving a pixel
        if min(ny, nx) - 2 * border < 1:
            raise ValueError(
                f"the slice is {ny} x {nx} pixels: a {border}-pixel border leaves none of it; "
                "untick 'exclude border'")
    elif min(ny, nx) - 2 * border < MIN_SIDE:
        raise ValueError(
            f"the slice is {ny} x {nx} pixels: too small to exclude a {border}-pixel border "
            "and keep SSIM's 11 x 11 window; untick 'exclude border' or use a larger image"
        )
    return slice(border, ny - border), slice(border, nx - border)


#: bytes of a plane checked for NaN/Inf at a time (a block of rows), when not chunked by dask
FINITE_BLOCK_BYTES = 32 * 2**20


def all_finite(plane) -> bool:
    """Whether ``plane`` (numpy, dask or any array read by slicing, such as zarr) holds no NaN
    or Inf, checked without holding a lazy plane whole: dask by its chunks, others by blocks of
    rows (a 10240^2 float32 dask plane read whole for this took 12.5 s and 1.5 GB a slice when
    only a 256^2 region is scored)."""
    if type(plane).__module__.startswith("dask"):
        import dask.array as da

        return bool(da.isfinite(plane).all().compute())
    shape = tuple(plane.shape)
    if not shape or shape[0] == 0:
        return bool(np.isfinite(np.asarray(plane)).all())
    row = max(1, math.prod(shape[1:]) * np.dtype(plane.dtype).itemsize)
    step = max(1, FINITE_BLOCK_BYTES // row)
    chunks = getattr(plane, "chunks", None)  # zarr: whole chunks of rows, each read once
    if isinstance(chunks, tuple) and chunks and isinstance(chunks[0], int) and chunks[0] > 0:
        step = max(chunks[0], step // chunks[0] * chunks[0])
    return all(np.isfinite(np.asarray(plane[y:y + step])).all()
               for y in range(0, shape[0], step))


def iter_plane_metrics(planes: dict, ref_scale, *, border: int, box=None,
                       rgb: bool = False) -> Generator[dict, None, dict]:
    """PSNR, then SSIM, of the ``planes['blurry']`` and ``planes['deblurred']`` (either may be
    absent) against ``planes['truth']``, on the reference scale ``(offset, scale)``.

    Yields the PSNR-only dict, returns the full one (``psnr_<name>``, ``ssim_<name>``, and
    ``units`` when a plane is not in the truth's units: ``unit_mismatch``; on a plane under
    SSIM's window, ``ssim_<name>`` None and ``ssim_na``, why: ``ssim_gap_words``). ``box``
    ((y0, y1), (x0, x1)) restricts the metrics to a region (no border then); otherwise
    ``border`` pixels are excluded at each side.
    """
    results = yield from iter_plane_metrics_borders(planes, ref_scale, borders=(border,),
                                                    box=box, rgb=rgb)
    return results[border]


def iter_plane_metrics_borders(planes: dict, ref_scale, *, borders=(16, 0), box=None,
                               rgb: bool = False) -> Generator[dict, None, dict]:
    """``iter_plane_metrics`` for each of ``borders`` at once (the PSNR yielded is that of
    ``borders[0]``); returns ``{border: result}``. Every border's SSIM comes from one SSIM
    map, so the dock's border option costs no second computation. With ``box`` the region
    is scored alone and ``borders`` must be ``(0,)``. A layer with NaN or Inf pixels anywhere
    in its plane scores NaN (the dock's dash) at every border and in any region, as
    ``metrics.evaluate`` refuses it: one in the border or outside the region had scored a
    number where the same pair is refused by ``microdeblur evaluate``."""
    offset = ref_scale[0]
    if box is None:  # the whole plane is scored: a lazy float one read once, checked, cropped
        planes = {k: np.asarray(v) if k != "truth" and np.dtype(v.dtype).kind in "fc" else v
                  for k, v in planes.items()}
    nonfinite = {n for n in ("blurry", "deblurred") if n in planes
                 and np.dtype(planes[n].dtype).kind in "fc" and not all_finite(planes[n])}
    if box is not None:  # the region alone is read (the check above went by chunks)
        (y0, y1), (x0, x1) = box
        planes = {k: np.asarray(v[y0:y1, x0:x1]) for k, v in planes.items()}
    first = (slice(None), slice(None))
    if box is None:
        for b in reversed(borders):
            first = _crop(planes["truth"], b, None)  # says which border is too wide
    units = unit_mismatch({k: np.asarray(v)[first] for k, v in planes.items()}, rgb=rgb,
                          dark=offset)
    flat = {n: value for n in ("blurry", "deblurred") if n in planes
            and (value := flat_value(planes[n], planes["truth"])) is not None}
    if (value := next((v for n in ("deblurred", "blurry") if n in planes
                       and (v := flat_value(planes["truth"], planes[n])) is not None),
                      None)) is not None:
        flat["truth"] = value  # a ground truth of one value, where a layer varies
    names = [n for n in ("blurry", "deblurred") if n in planes]
    ca, nan = (-1 if rgb else None), float("nan")

    def as_planes(a):  # (1, C, Y, X) views, the layout metrics.plane_scores takes
        a = np.asarray(a)
        return np.moveaxis(a, -1, 0)[None] if ca is not None else a[None, None]

    truth = as_planes(planes["truth"])
    psnrs = metrics.plane_scores([as_planes(planes[n]) for n in names], truth,
                                 ref_scale=ref_scale, borders=borders, ssim=False)["psnr"]
    out = {b: {} for b in borders}
    for b in borders:
        if units:
            out[b]["units"] = units
        if flat:
            out[b]["flat"] = flat
        for i, n in enumerate(names):
            psnr = float(psnrs[i][borders.index(b)][0])
            out[b][f"psnr_{n}"] = nan if n in nonfinite else psnr
    yield dict(out[borders[0]])
    order = [n for n in ("deblurred", "blurry") if n in planes]
    # a plane under SSIM's window (an 8 px strip) has PSNR alone: its SSIM None, and why
    ny, nx = np.shape(planes["truth"])[:2]
    fits = tuple(b for b in borders if min(ny, nx) - 2 * b >= MIN_SIDE)
    ssims = metrics.plane_scores([as_planes(planes[n]) for n in order], truth,
                                 ref_scale=ref_scale, borders=fits, psnr=False)["ssim"] \
        if fits else []
    for b in borders:
        if b not in fits:
            out[b].update({f"ssim_{n}": None for n in order}, ssim_na=ssim_gap_words(ny, nx))
            continue
        j = fits.index(b)
        out[b].update({f"ssim_{n}": nan if n in nonfinite else float(ssims[i][j][0])
                       for i, n in enumerate(order)})
    return out


def iter_pair_metrics_borders(pairs: dict, ref_scale, *, borders=(16, 0), box=None,
                              rgb: bool = False) -> Generator[dict, None, dict]:
    """``iter_plane_metrics_borders`` of each ``pairs[name] = (truth, plane)`` against its own
    ground-truth plane (matched pairs: the truth registered onto each image), merged: yields
    the figures so far, returns ``{border: result}``. No ``units``: a plane of a stack fitted
    as a whole keeps its own contrast (a widefield plane's haze), not another scale."""
    out = {b: {} for b in borders}
    for name, (truth, plane) in pairs.items():
        gen = iter_plane_metrics_borders({"truth": truth, name: plane}, ref_scale,
                                         borders=borders, box=box, rgb=rgb)
        while True:
            try:
                part = next(gen)
            except StopIteration as stop:
                for b in borders:
                    out[b].update({k: v for k, v in stop.value[b].items() if k != "units"})
                break
            part.pop("units", None)
            yield {**out[borders[0]], **part}
    return out


def iter_stack_metrics(arrays: dict, ref_scale, entries: Iterable[tuple[int, dict]], *,
                       border: int, box=None, rgb: bool = False, references=None
                       ) -> Generator[tuple[int, dict], None, list[dict]]:
    """The metrics of one 2D (or RGB) plane of each array per entry ``(i, {name: key})``,
    ``key`` indexing that plane of ``arrays[name]`` (arrays placed differently along Z have
    different keys for the same ``i``); yields ``(i, result)`` and returns the results.
    ``references`` ({name: array}, matched pairs): each array against its own ground truth
    (indexed by its own key) instead of ``arrays['truth']``."""
    results = []
    for i, keys in entries:
        if references is not None:
            pairs = {k: (np.asarray(references[k][keys[k]]), np.asarray(a[keys[k]]))
                     for k, a in arrays.items() if k != "truth"}
            result = drive(iter_pair_metrics_borders(pairs, ref_scale, borders=(border,),
                                                     box=box, rgb=rgb))[border]
            results.append(result)
            yield i, result
            continue
        planes = {k: np.asarray(a[keys[k]]) for k, a in arrays.items()}
        result = drive(iter_plane_metrics(planes, ref_scale, border=border, box=box, rgb=rgb))
        results.append(result)
        yield i, result
    return results
