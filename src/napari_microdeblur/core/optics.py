"""Physical microscope PSFs from objective and sample parameters, computed with psfmodels.

All lengths are in micrometres. ``widefield_psf`` is the vectorial model of Aguet et al. (2009)
(Gibson-Lanni stratified sample: immersion oil, coverslip, sample); ``confocal_psf`` is
psfmodels' confocal approximation: the excitation PSF times the emission PSF convolved in XY with
the pinhole disk (no pinhole blur in Z, incoherent detection).

Spherical aberration comes from a refractive-index mismatch: a bead ``depth`` micrometres into a
sample of index ``ns`` imaged with immersion index ``ni``. With ``ns`` left at None the sample is
index-matched (ns = ni) and the PSF is aberration-free at any depth.

Every PSF is float32, sums to 1, has odd sides and its peak on the middle pixel, like those of
``core.psf``. Under a refractive-index mismatch the brightest plane lies off the source's nominal
depth (the focal shift, 0.6-1.2 um for oil into water at 5-20 um): the 2D PSF is that brightest
plane (``defocus`` counts from it) and a 3D one is centred on it, as deconvolution software does,
so the deblurred stack stays registered with the input instead of moving by the focal shift.
Its lateral size, unless given, is the smallest that holds every pixel above 1e-3 of the peak
(the Airy rings out to about 2.5 wavelength / NA in focus, wider when defocused).
"""

from __future__ import annotations

import math
import warnings
from numbers import Real

import numpy as np

from .notes import DeblurWarning

__all__ = ["DZ_WITHOUT_NZ", "widefield_psf", "confocal_psf"]

# A z step without planes built a 2D PSF, and a z-stack then ran plane by plane, unsaid.
DZ_WITHOUT_NZ = ("dz= has no effect without nz= (a 2D PSF has one plane); add nz=N (odd, e.g. "
                 "nz=17, at most the stack's planes) for a 3D PSF, or drop dz= for a 2D PSF")

_SUPPORT_LEVEL = 1e-3  # pixels below this fraction of the peak are outside the PSF's support
_MAX_SIDE = 1025  # lateral pixels; a larger PSF would take minutes to convolve and is a unit slip
_MAX_PLANES = 501
# Refuse pixels larger than 4 x the Abbe limit wavelength / (2 NA): the whole PSF then falls in
# about one pixel and a computed PSF says nothing a delta would not.
_UNDERSAMPLING_LIMIT = 4.0
# Deeper than an objective's working distance; depth=20000 (nanometres) ran for minutes.
_MAX_DEPTH = 500.0
# An explicit size whose edge is brighter than this share of the peak cuts the PSF itself off,
# not only its faint wings (the second Airy ring is about 0.4% of the peak).
_CUT_LEVEL = 0.01
_PROBE_PLANES = 9  # planes of a stack computed first, cheaply, to size the lateral field


def _number(value, name: str, accepted: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} is {value!r}; accepted: {accepted}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} is {value!r}; accepted: {accepted}")
    return v


def _positive(value, name: str, accepted: str) -> float:
    v = _number(value, name, accepted)
    if v <= 0:
        raise ValueError(f"{name} is {value!r}; accepted: {accepted}")
    return v


def _odd_count(value, name: str, limit: int, what: str) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < 1
        or value % 2 == 0
        or value > limit
    ):
        raise ValueError(
            f"{name} is {value!r}; accepted: an odd integer from 1 to {limit} ({what}; odd so the "
            "PSF has a centre)"
        )
    return int(value)


def _in_range(value, name: str, low: float, high: float, accepted: str) -> float:
    v = _number(value, name, accepted)
    if not low <= v <= high:
        raise ValueError(f"{name} is {value!r}; accepted: {accepted}")
    return v


_INDEX = "refractive index, 1.0 to 2.0 (air 1.0, water 1.333, oil 1.515)"
_WAVELENGTH = "a wavelength in micrometres, 0.2 to 2.0 (e.g. 0.52 for GFP; 520 would be nanometres)"


def _optics(na, wavelengths: dict, pixel, ni, ns, depth, defocus, centre="peak") -> dict:
    if centre not in ("peak", "source"):
        raise ValueError(f"centre is {centre!r}; accepted: 'peak' (the brightest plane) or "
                         "'source' (the source's nominal depth)")
    ni = _in_range(ni, "ni", 1.0, 2.0, "the immersion medium's " + _INDEX)
    na = _number(na, "na", f"a numerical aperture above 0 and below the immersion index ni={ni}")
    if not 0 < na < ni:
        raise ValueError(
            f"na is {na!r}; accepted: a numerical aperture above 0 and below the immersion index "
            f"ni={ni} (e.g. 1.4 for oil, 1.2 for water, 0.95 for air)"
        )
    ns = ni if ns is None else _in_range(ns, "ns", 1.0, 2.0, f"the sample's {_INDEX}; or "
                                         "leave ns out (None) for the immersion index ni")
    for name, value in wavelengths.items():
        wavelengths[name] = _in_range(value, name, 0.2, 2.0, _WAVELENGTH)
    pixel = _positive(pixel, "pixel", "the pixel size in the sample, in micrometres (e.g. 0.065)")
    shortest = min(wavelengths.values())
    coarsest = _UNDERSAMPLING_LIMIT * shortest / (2 * na)
    if pixel > coarsest:
        raise ValueError(
            f"pixel is {pixel!r} um; accepted: at most {coarsest:.3g} um for na={na} and "
            f"wavelength {shortest} um (4 x the resolution limit wavelength / (2 na)); a coarser "
            "image holds the whole PSF in one pixel (is pixel in micrometres?)"
        )
    depth = _in_range(
        depth, "depth", 0.0, _MAX_DEPTH,
        f"the depth below the coverslip, 0 to {_MAX_DEPTH:g} um (is depth in micrometres?)",
    )  # fmt: skip
    defocus = _number(defocus, "defocus", "a finite distance in micrometres")
    return dict(na=na, ni=ni, ns=ns, pixel=pixel, depth=depth, defocus=defocus, centre=centre,
                **wavelengths)


def _z_offsets(nz, dz, p: dict) -> np.ndarray:
    """Focal-plane positions relative to the PSF's peak: ``defocus`` in 2D, a stack around it."""
    nz = _odd_count(nz, "nz", _MAX_PLANES, "planes")
    if nz == 1 and dz is not None:
        raise ValueError(f"dz is {dz!r} with nz=1: {DZ_WITHOUT_NZ}")
    if nz == 1:
        return np.array([p["defocus"]])
    if dz is None:
        raise ValueError(f"nz={nz} needs dz=... (the Z step in um, e.g. dz=0.2)")
    dz = _positive(dz, "dz", "the z step in micrometres (e.g. 0.2)")
    if p["defocus"] != 0:
        # the stack would be centred on the focal plane, not the peak: a deconvolution with it
        # moves the whole stack by defocus / dz planes
        raise ValueError(
            f"defocus is {p['defocus']!r} with nz={nz}; accepted: defocus=0 for a 3D PSF "
            f"(its planes already span the focus; a defocused one is off-centre and would "
            f"shift the deblurred stack by {p['defocus'] / dz:.3g} planes)"
        )
    return (np.arange(nz) - nz // 2) * dz


def _peak_focus(model, p: dict, probe_side: int) -> float:
    """The focal-plane position (um above the coverslip, as psfmodels takes it) of the PSF's
    brightest plane. The source sits at ``depth``; matched indices focus there, a mismatch
    moves the peak (spherical aberration). Found on the optical axis: a coarse scan of the
    one-pixel emission PSF (under 1 ms a plane), then the model's own peak near it."""
    from scipy.optimize import minimize_scalar

    depth = p["depth"]
    if p["ns"] == p["ni"] or depth == 0 or p["centre"] == "source":
        return depth
    reach = 2.0 + 0.5 * depth
    # 0.25 um steps fall within the main lobe (axial FWHM 0.8 um and more), then Brent finds it
    grid = np.arange(max(0.0, depth - reach), depth + reach, 0.25)
    axis = _emission(p, grid, 1, p["wavelength"], oversample=1)[:, 0, 0]
    coarse = float(grid[int(np.argmax(axis))])
    c = probe_side // 2
    found = minimize_scalar(
        lambda z: -float(model([z], probe_side, 1)[0, c, c]),
        bounds=(coarse - 0.3, coarse + 0.3), method="bounded", options={"xatol": 1e-3},
    )  # fmt: skip
    return float(found.x)


def _guess_radius(p: dict, zv: np.ndarray) -> float:
    """Pixels from the centre that likely hold the PSF: Airy rings plus the geometric defocus
    cone. In a stack only half the outermost planes' cone: they are far dimmer than the focus,
    and their rim falls under 1e-3 of its peak (a first guess; _computed widens it if needed)."""
    longest = max(v for k, v in p.items() if "wavelength" in k)
    airy = 3.0 * longest / p["na"]
    half_angle = math.asin(min(p["na"] / p["ni"], 0.999))
    cone = float(np.max(np.abs(zv - p["focus"]))) * math.tan(half_angle)
    return (airy + (1.2 if len(zv) == 1 else 0.5) * cone) / p["pixel"]


def _support_side(stack: np.ndarray) -> int:
    """Smallest odd side around the centre holding every pixel above the support level."""
    flat = stack.max(axis=0)
    c = flat.shape[0] // 2
    yy, xx = np.indices(flat.shape) - c
    chebyshev = np.maximum(np.abs(yy), np.abs(xx))
    inside = chebyshev[flat >= _SUPPORT_LEVEL * flat.max()]
    return 2 * (int(inside.max()) + 1) + 1  # one pixel margin past the last one above the level


def _psfmodels():
    # psfmodels is GPL-3.0 while this package is BSD-3, so it is an optional extra, not a hard
    # dependency: installing it is the user's choice.
    try:
        import psfmodels
    except ImportError as err:
        raise ImportError(
            "PSFs from optics need the psfmodels package (GPL-3.0): pip install "
            "'napari-microdeblur[optics]' or pip install psfmodels"
        ) from err
    return psfmodels


def _emission(p: dict, z, side: int, wavelength: float, oversample: int = 3) -> np.ndarray:
    """psfmodels' vectorial PSF at focal positions ``z``; ``oversample`` 3 integrates each pixel
    over 3 x 3 points (1, a point sample, is 3x faster: for the probes that size and centre).
    One call per plane (planes are computed independently: bit-identical, no slower): a call
    holds the GIL, and 63 planes in one froze the napari dock computing them in a worker 10 s."""
    make_psf, z = _psfmodels().make_psf, [float(v) for v in z]
    per_call = len(z) if side == 1 else 1  # the on-axis probe's 1-pixel planes take no time
    return np.concatenate([make_psf(
        z[i : i + per_call], side, dxy=p["pixel"], pz=p["depth"], NA=p["na"], wvl=wavelength,
        ns=p["ns"], ni=p["ni"], ni0=p["ni"], normalize=False, model="vectorial",
        oversample_factor=oversample,
    ) for i in range(0, len(z), per_call)])  # fmt: skip


def _probed_side(model, zv: np.ndarray, side: int) -> int:
    """A stack's lateral side from a few of its planes computed with point samples: the first
    guess is generous (65 planes at depth 20 um took 10 s at 329 px where 139 px held them)."""
    picked = np.unique(np.r_[np.linspace(0, len(zv) - 1, _PROBE_PLANES).round(), len(zv) // 2])
    needed = _support_side(model(zv[picked.astype(int)], side, 1))
    # planes between the probed ones may reach a little further; _computed checks the result
    return min(side, needed + 2 * math.ceil(0.1 * needed + 2))


def _warn_if_cut(stack: np.ndarray, side: int) -> np.ndarray:
    """An explicit size may cut the PSF off: warn when its edge is still above _CUT_LEVEL of the
    peak (a deconvolution then misses that light and leaves a halo), and keep the size asked."""
    edge = max(stack[:, [0, -1], :].max(), stack[:, :, [0, -1]].max())
    if side > 1 and edge > _CUT_LEVEL * stack.max():
        warnings.warn(
            f"size={side} cuts the PSF off where it is still {100 * edge / stack.max():.2g}% of "
            "its peak; accepted: a larger odd size, or no size (the PSF's own support)",
            DeblurWarning, stacklevel=4,
        )
    return stack


def _computed(model, offsets: np.ndarray, size, p: dict, what: str, probe_side: int):
    """The PSF's planes at ``offsets`` from its peak, ``size`` pixels across or as wide as its
    support, as an array of shape (planes, side, side)."""
    p["focus"] = _peak_focus(model, p, probe_side)
    zv = p["focus"] + offsets
    if size is not None:
        side = _odd_count(size, "size", _MAX_SIDE, "pixels per lateral side")
        return _warn_if_cut(model(zv, side), side)
    side = 2 * math.ceil(1.2 * _guess_radius(p, zv)) + 1
    if len(zv) > 2 * _PROBE_PLANES and side <= _MAX_SIDE:
        side = _probed_side(model, zv, side)
    while True:
        if side > _MAX_SIDE:
            raise ValueError(
                f"the {what} PSF needs more than {_MAX_SIDE} pixels across (pixel={p['pixel']} um, "
                f"defocus={p['defocus']} um, z range {zv.min():.3g}..{zv.max():.3g} um); accepted: "
                "parameters whose PSF fits (check the units are micrometres), or an explicit size"
            )
        stack = model(zv, side)
        needed = _support_side(stack)
        if needed < side:
            trim = (side - needed) // 2
            return stack[:, trim : side - trim, trim : side - trim]
        side = 2 * (3 * side // 4) + 1  # the support reached the edge: a 1.5x wider field


def _confocal(excitation: np.ndarray, emission: np.ndarray, radius: float):
    """psfmodels.confocal_psf's model: the excitation PSF times the emission PSF convolved in XY
    with the pinhole disk (``radius`` pixels: pinhole diameter in Airy units x 0.61 wavelength /
    NA). The convolution is by FFT: psfmodels convolves directly with a disk as wide as the PSF,
    which took a minute for a 31-plane stack of 175 px (seconds now, the same PSF to 1e-6)."""
    from scipy.signal import fftconvolve

    side = emission.shape[-1]
    xx, yy = np.meshgrid(np.arange(side) - side // 2, np.arange(side) - side // 2)
    disk = (np.sqrt(xx**2 + yy**2) <= radius).astype(np.float64)  # psfmodels' _top_hat
    detected = fftconvolve(emission, disk[None], mode="same", axes=(1, 2))
    return excitation * np.clip(detected, 0.0, None)  # FFT rounding can dip below zero


def _finished(stack: np.ndarray) -> np.ndarray:
    stack = np.clip(np.asarray(stack, dtype=np.float64), 0.0, None)
    psf = stack[0] if stack.shape[0] == 1 else stack
    return (psf / psf.sum()).astype(np.float32)


def widefield_psf(
    na,
    wavelength,
    pixel,
    *,
    ni=1.515,
    ns=None,
    depth=0.0,
    defocus=0.0,
    size=None,
    nz=1,
    dz=None,
    centre="peak",
) -> np.ndarray:
    """Widefield fluorescence PSF (vectorial model), 2D when ``nz`` is 1, else ZYX.

    ``wavelength`` is the emission wavelength and ``pixel`` the pixel size in the sample, both in
    micrometres; ``ni``/``ns`` the immersion and sample indices, ``depth`` the source depth below
    the coverslip (aberrated when ns != ni), ``defocus`` the focal plane's offset from the source
    (the 2D PSF is that plane; a 3D one, centred on the source, refuses a defocus), ``size`` the
    lateral side in pixels and ``dz`` the z step of an ``nz``-plane stack. ``centre`` "peak"
    (default) counts ``defocus`` and centres a stack from the brightest plane; "source" from the
    source's nominal depth, as before the focal shift was taken into account (what the
    cross-dataset benchmark's held-out PSFs were defined with).
    """
    p = _optics(na, {"wavelength": wavelength}, pixel, ni, ns, depth, defocus, centre)
    offsets = _z_offsets(nz, dz, p)

    def model(z, side, oversample=3):
        return _emission(p, z, side, p["wavelength"], oversample)

    return _finished(_computed(model, offsets, size, p, "widefield", 1))


def confocal_psf(
    na,
    wavelength,
    pixel,
    *,
    excitation_wavelength=None,
    pinhole=1.0,
    ni=1.515,
    ns=None,
    depth=0.0,
    defocus=0.0,
    size=None,
    nz=1,
    dz=None,
    centre="peak",
) -> np.ndarray:
    """Point-scanning confocal PSF: excitation PSF x (emission PSF convolved with the pinhole).

    ``wavelength`` is the emission wavelength; ``excitation_wavelength`` defaults to it (no
    Stokes shift, slightly pessimistic); ``pinhole`` is the pinhole diameter in Airy units
    (1.0 is the usual setting). Other arguments as ``widefield_psf``.
    """
    if excitation_wavelength is None:
        excitation_wavelength = wavelength
    p = _optics(
        na,
        {"wavelength": wavelength, "excitation_wavelength": excitation_wavelength},
        pixel, ni, ns, depth, defocus, centre,
    )  # fmt: skip
    pinhole = _positive(pinhole, "pinhole", "the pinhole diameter in Airy units, 0 to 50 (e.g. 1)")
    if pinhole > 50:  # psfmodels treats 50 AU and more as no pinhole at all
        raise ValueError(f"pinhole is {pinhole!r}; accepted: the diameter in Airy units, 0 to 50")
    offsets = _z_offsets(nz, dz, p)
    # the on-axis confocal value takes the emission over the pinhole disk
    radius = 0.0 if pinhole >= 50 else pinhole * 0.61 * p["wavelength"] / p["na"] / p["pixel"]

    def model(z, side, oversample=3):
        excitation = _emission(p, z, side, p["excitation_wavelength"], oversample)
        if pinhole >= 50:  # as psfmodels: an open pinhole detects everywhere alike
            return excitation
        emission = _emission(p, z, side, p["wavelength"], oversample)
        return _confocal(excitation, emission, radius)

    return _finished(_computed(model, offsets, size, p, "confocal", 2 * math.ceil(radius) + 1))
