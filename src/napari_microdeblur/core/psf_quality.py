"""No-reference checks of a PSF learned by the PSF-CycleGAN, and its export with a record.

A user who learns a PSF from unpaired images has no true PSF to compare it with. What the
kernel itself says (``psf_figures``): its FWHM along its principal axes, the share of its mass
in its peak pixel, how far its centroid and its peak lie from the kernel's centre, the share of
its bright part (pixels above ``BLOB_LEVEL`` of the peak) in the blob around the peak, and its
normalised cross-correlation (NCC) with the kernel the run started from.

The rule (``problems``), measured (NCC with the true PSF in brackets):

=====================================  ==========  ============  =========================
kernel                                 peak blob   NCC w. start  verdict
=====================================  ==========  ============  =========================
walkthrough, spectral-fit start        1.00        1             (0.992)
walkthrough, --steps 20                1.00        0.977         (0.988)
walkthrough, --minutes 1               0.70        0.42          degenerate (0.40)
walkthrough, --minutes 2               0.73        0.71          degenerate (0.70)
walkthrough, 2 min, point symmetry     0.77        0.69          degenerate (0.66)
benchmark 20 min, Gaussian             1.00        0.998         (0.998; its start 0.999)
benchmark 20 min, astigmatic           1.00        0.997         (0.996; its start 0.999)
shipped psf_cyclegan.fluo_v1           1.00        --            (0.967)
gaussian, astig, disk, widefield,      1.00        --            model PSFs, for the blob
confocal (in focus and defocused)
=====================================  ==========  ============  =========================

so a kernel is called degenerate when less than ``MIN_PEAK_BLOB`` of its bright part is in
the peak's blob (it broke into fragments) or its NCC with the run's start is below
``MIN_START_NCC`` (it moved far from it). The centroid is pinned by the training's centring
prior (0.0-0.11 px in every case above) and the peak of a good lopsided kernel may sit a pixel
off (fluo_v1's), so both are reported, not judged. In every measured run the spectral-fit start
was as close to the truth as the learned PSF or closer, so a degenerate kernel whose run started
from a spectral fit is replaced by that start (``choose_export``); from any other start it is
written as it is, with the warning.
"""

from __future__ import annotations

import datetime
import math
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from .notes import DeblurWarning

__all__ = ["BLOB_LEVEL", "MIN_PEAK_BLOB", "MIN_START_NCC", "POINT_PEAK_SHARE", "PsfExport",
           "PsfFigures", "choose_export", "fwhm_axes", "gaussian_start", "psf_figures",
           "start_record", "write_psf"]

#: pixels at or above this share of the peak make the kernel's bright part
BLOB_LEVEL = 0.05
#: a kernel with less of its bright part in the peak's blob broke into fragments (measured:
#: 0.70-0.77 degenerate, 1.00 for every good or model PSF)
MIN_PEAK_BLOB = 0.9
#: a kernel with a lower NCC with the run's start moved far from it (measured: 0.42-0.71
#: degenerate, 0.977-0.998 good)
MIN_START_NCC = 0.9
#: a kernel with at least this share of its mass in its peak pixel is a point: it blurs, so its
#: network deblurs, nothing (a Gaussian of sigma 0.25 px holds 91 % there; measured on the
#: walkthrough: swapped image sets 100 %, one set against itself 99 %, the right way round 6 %)
POINT_PEAK_SHARE = 0.9


def fwhm_axes(kernel: np.ndarray) -> tuple[float, ...]:
    """FWHM (pixels) along the principal axes of the region above half the maximum, largest
    first (``benchmarks/papers_psf.py``'s measure: the region of a Gaussian is an ellipse whose
    axes are its FWHMs), on a cubic zoom (8x in 2D, 4x in 3D)."""
    from scipy import ndimage

    zoom = 8 if kernel.ndim == 2 else 4
    fine = np.clip(ndimage.zoom(np.asarray(kernel, np.float64), zoom, order=3), 0, None)
    coords = np.argwhere(fine >= 0.5 * fine.max()).astype(np.float64) / zoom
    cov = np.atleast_2d(np.cov(coords.T, bias=True)) + 1.0 / (12 * zoom**2)
    # the variance along an axis of a uniform d-ellipsoid is a^2 / (d + 2)
    widths = 2 * np.sqrt((kernel.ndim + 2) * np.clip(np.linalg.eigvalsh(cov), 0, None))
    return tuple(float(w) for w in np.sort(widths)[::-1])


def ncc(a: np.ndarray, b: np.ndarray) -> float | None:
    """Normalised cross-correlation of two kernels of one shape; None for other shapes."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return None
    a, b = a - a.mean(), b - b.mean()
    den = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else None


def _peak_blob_share(kernel: np.ndarray) -> float:
    from scipy import ndimage

    bright = kernel >= BLOB_LEVEL * kernel.max()
    labels, _ = ndimage.label(bright, structure=np.ones((3,) * kernel.ndim))
    peak = np.unravel_index(int(np.argmax(kernel)), kernel.shape)
    return float(kernel[labels == labels[peak]].sum() / kernel[bright].sum())


@dataclass(frozen=True)
class PsfFigures:
    """What a kernel says of itself (see the module's table)."""

    fwhm_px: tuple[float, ...]
    peak_share: float  # of the mass, in the peak pixel
    centroid_offset_px: float  # from the kernel's centre
    peak_offset_px: float
    peak_blob_share: float  # of the bright part, in the peak's blob
    start_ncc: float | None = None  # with the kernel the run started from

    def problems(self) -> list[str]:
        """Why the kernel is degenerate, each with its figure; [] for none."""
        found = []
        if self.peak_blob_share < MIN_PEAK_BLOB:
            found.append(f"fragmented ({self.peak_blob_share:.0%} of its bright part in the "
                         f"peak's blob, < {MIN_PEAK_BLOB:.0%})")
        if self.start_ncc is not None and self.start_ncc < MIN_START_NCC:
            found.append(f"far from the PSF its run started from (NCC {self.start_ncc:.2f}, < "
                         f"{MIN_START_NCC:g})")
        return found

    def words(self) -> str:
        """'FWHM 5.2 x 2.4 px, peak pixel 7.7 % of the mass, ...' (one line)."""
        start = (f", NCC {self.start_ncc:.3f} with its start" if self.start_ncc is not None
                 else "")
        return (f"FWHM {' x '.join(f'{w:.2g}' for w in self.fwhm_px)} px, peak pixel "
                f"{self.peak_share:.1%} of the mass, centroid {self.centroid_offset_px:.2f} px "
                f"and peak {self.peak_offset_px:.1f} px off centre, "
                f"{self.peak_blob_share:.0%} of the bright part in the peak's blob{start}")

    def as_record(self) -> dict:
        record = asdict(self)
        record["fwhm_px"] = [round(w, 3) for w in self.fwhm_px]
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in record.items()}


def psf_figures(kernel, start=None, start_ncc: float | None = None) -> PsfFigures:
    """The figures of ``kernel`` (2D or 3D, any sum > 0); ``start``: the kernel its run
    started from, for the NCC (None: not known); ``start_ncc``: that NCC as the run's card
    recorded it (``start_record``), which ``start`` then does not replace."""
    k = np.asarray(kernel, np.float64)
    k = k / k.sum()
    centre = (np.array(k.shape) - 1) / 2
    centroid = np.array([(k * g).sum() for g in np.indices(k.shape)])
    peak = np.array(np.unravel_index(int(np.argmax(k)), k.shape))
    return PsfFigures(
        fwhm_px=fwhm_axes(k), peak_share=float(k.max()),
        centroid_offset_px=float(np.linalg.norm(centroid - centre)),
        peak_offset_px=float(np.linalg.norm(peak - centre)),
        peak_blob_share=_peak_blob_share(k),
        start_ncc=start_ncc if start_ncc is not None or start is None else ncc(k, start))


@dataclass(frozen=True)
class PsfExport:
    """The kernel to write, which one it is ('learned' or 'spectral-fit start'), the figures
    of the learned kernel and a warning line (None: nothing to warn of)."""

    kernel: np.ndarray
    which: str
    figures: PsfFigures
    warning: str | None = None


def choose_export(learned, start=None, start_kind: str | None = None, *,
                  where: str = "the learned PSF", start_ncc: float | None = None) -> PsfExport:
    """What to export of ``learned`` (its run started from ``start``, of ``start_kind``:
    "spectral fit", "configured", "given" or None) and the warning to give, naming the
    figures and ``microdeblur psf-estimate``. ``where``: the kernel as the warning names it.
    A kernel written that is a point (``POINT_PEAK_SHARE``) is warned of too: the degenerate
    checks passed one that matched its own point start (swapped image sets). ``start_ncc``:
    the learned kernel's NCC with its start as the weights' card recorded it (``start_record``:
    `psf-from-weights` has no run state to compare with)."""
    chosen = _choose(learned, start, start_kind, where, start_ncc)
    kernel = np.asarray(chosen.kernel, np.float64)
    peak = float(kernel.max() / kernel.sum())
    if peak < POINT_PEAK_SHARE:
        return chosen
    what = where if chosen.which == "learned" else "the PSF written (its run's start)"
    point = (f"{what} is a point ({peak:.0%} of its mass in its peak pixel, at least "
             f"{POINT_PEAK_SHARE:.0%}): it blurs nothing, so its network deblurs nothing; were "
             "the blurry and the sharp images swapped, or are the blurry ones no blurrier? "
             "Train again with them the right way round, or estimate the PSF with "
             "`microdeblur psf-estimate BLURRY.tif -o est.tif`")
    return replace(chosen, warning=point if chosen.warning is None
                   else f"{chosen.warning}; {point}")


def _choose(learned, start, start_kind: str | None, where: str,
            start_ncc: float | None = None) -> PsfExport:
    learned = np.asarray(learned, np.float32)
    start_array = None if start is None else np.asarray(start, np.float32)
    figures = psf_figures(learned, start_array, start_ncc)
    problems = figures.problems()
    if not problems:
        return PsfExport(learned, "learned", figures)
    said = (f"{where} looks degenerate: {' and '.join(problems)}; FWHM "
            f"{' x '.join(f'{w:.2g}' for w in figures.fwhm_px)} px, peak pixel "
            f"{figures.peak_share:.0%} of the mass")
    check = ("check it against `microdeblur psf-estimate BLURRY.tif -o est.tif` (a Gaussian "
             "fitted to one blurry image, in seconds) before you use it")
    if start_kind == "spectral fit" and start_array is not None:
        return PsfExport(start_array / start_array.sum(), "spectral-fit start", figures,
                         f"{said}: wrote the PSF its run started from instead (the Gaussian "
                         "fitted to the two image sets' spectra, as close to the truth in every "
                         f"measured run); {check}")
    return PsfExport(learned, "learned", figures, f"{said}; {check}")


def start_record(learned, start, kind: str | None, covariance=None) -> dict:
    """What a weights file's card keeps of the PSF its run started from (``training.
    psf_start``), so that `psf-from-weights` checks its kernel as `train --export-psf` does
    without the run's state: the start's ``kind``, the learned kernel's ``ncc`` with it and,
    for a spectral fit, the fitted Gaussian's ``covariance_px2`` (it remakes the start, which
    is written in place of a degenerate kernel; the kernel itself would fill the card)."""
    found = ncc(np.asarray(learned), np.asarray(start))
    record = {"kind": kind, "ncc": None if found is None else round(found, 4)}
    if covariance is not None and kind == "spectral fit":
        record["covariance_px2"] = [[float(f"{v:.7g}") for v in row] for row in covariance]
    return record


def gaussian_start(record, shape: tuple[int, ...]) -> np.ndarray | None:
    """The spectral-fit start a ``start_record`` describes, remade on a kernel of ``shape``
    (as ``SpectrumMatch.fit_gaussian`` builds it); None where it holds no covariance."""
    covariance = (record or {}).get("covariance_px2")
    try:
        precision = np.linalg.inv(np.asarray(covariance, np.float64))
    except (TypeError, ValueError, np.linalg.LinAlgError):
        return None
    if precision.shape != (len(shape),) * 2:
        return None
    grid = np.stack(np.meshgrid(*(np.arange(n) - (n - 1) / 2 for n in shape), indexing="ij"), -1)
    kernel = np.exp(-0.5 * np.einsum("...i,ij,...j->...", grid, precision, grid))
    return (kernel / kernel.sum()).astype(np.float32)


def export_record(export: PsfExport, *, weights: str, steps: int | None,
                  minutes: float | None, start_kind: str | None = None) -> dict:
    """The record written into the PSF's TIFF (``provenance``'s key): ``microdeblur info``
    shows its ``method`` line (the whole record with --json)."""
    from .. import __version__

    name = Path(str(weights)).name  # records travel in shared files: no folder of the user's
    ran = ", ".join(p for p in (f"{steps} steps" if steps is not None else "",
                                f"{minutes:.1f} min" if minutes is not None else "") if p)
    problems = export.figures.problems()
    if export.which == "learned":
        what = "the learned PSF" + (f", degenerate: {' and '.join(problems)}" if problems else "")
    else:
        written = " x ".join(f"{w:.2g}" for w in fwhm_axes(np.asarray(export.kernel)))
        what = (f"the run's spectral-fit starting PSF (FWHM {written} px), not the learned "
                f"one, degenerate: {' and '.join(problems)}")
    return {
        "method": (f"PSF exported from psf_cyclegan weights {name} ({ran or 'steps not recorded'}"
                   f"): {what}; learned kernel: {export.figures.words()}"),
        "source_file": name,
        "axes": "YX" if export.kernel.ndim == 2 else "ZYX",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "software_version": __version__,
        "psf_export": {"weights": name, "steps": steps,
                       "minutes": None if minutes is None else round(minutes, 2),
                       "kernel": export.which, "start": start_kind,
                       "figures": export.figures.as_record(), "degenerate": problems},
    }


def write_psf(path, export: PsfExport, record: dict, *, overwrite: bool = False) -> Path:
    """Write ``export.kernel`` (float32, sum 1) as a TIFF holding ``record``; warn
    (``DeblurWarning``) where ``export`` has a warning."""
    from .io_write import write_image

    kernel = np.asarray(export.kernel, np.float32)
    written = write_image(path, kernel / kernel.sum(), axes=record["axes"], record=record,
                          overwrite=overwrite)
    if export.warning:
        warnings.warn(export.warning, DeblurWarning, stacklevel=2)
    return written
