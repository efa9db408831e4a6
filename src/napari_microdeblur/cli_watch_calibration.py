"""The threshold of `microdeblur watch` (``cli_watch``) and what the calibration images were
like. ``--calibrate GOOD_DIR`` puts it at ``--margin`` (default 1: the percentile itself) x a
percentile of the good images' scores, or with ``--calibrate-bad SOFT_DIR`` between the good and
the soft images. A margin below 1 leaves room for in-focus fields scoring below the good
images, at a cost: on BBBC006 (9 in-focus fields, 14 defocused), calibrated on every 4 of the
in-focus fields, 0.4 was the largest of 1.0, 0.8 ... 0.25 under which none of the other 5 was
deblurred (1.0: 126 of 630; 0.5: 35), but on two other sets it copied soft files 1.0 had
deblurred (DFNN mitochondria 1 of 9 defocused planes deblurred, 1.0: 9 of 9; sephace
brightfield 2 of 4, 1.0: 3 of 4), so the default stays 1 and a few good images get a warning
pointing to ``--calibrate-bad`` (0 in-focus deblurred on all three, 5 of 9 and 3 of 4 soft).
A watched file unlike every calibration image (another dtype, axes, a plane far smaller or
larger, a light background where they had a dark one; a field of background noise alone has
neither) is said once per kind of difference: its score need not compare with the threshold."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cli import UserError
from .core.shown import shown_path

#: the threshold as a fraction of the good images' percentile (see the module's docstring)
DEFAULT_MARGIN = 1.0
#: a plane's median above this fraction of its intensity range: a light background
#: (brightfield, EM: 0.43-0.89 measured on the shared data sets), below it a dark one
#: (fluorescence: 0.01-0.34)
LIGHT_BACKGROUND = 0.4
#: an intensity range (0.1 to 99.9th percentile) within this many noise sigmas is noise alone,
#: its background neither light nor dark (Gaussian noise spans 6.2; background-only crops of
#: BBBC006 6.0 and 6.4; the shared data sets' images 13.3 (EM, whose texture counts as noise
#: here) to 2160)
NOISE_ONLY_RANGE = 8.0
#: a plane this many times smaller or larger (either side) than every calibration image's
PLANE_SIZE_FACTOR = 2.0


@dataclass(frozen=True)
class Threshold:
    """The watch's threshold and where it came from (``origin``, plain JSON for the record)."""

    value: float
    origin: dict
    #: the dark level subtracted before every score, the calibration's and the files' alike
    camera_offset: float = 0.0
    #: what the calibration images were like (None with --threshold)
    profile: CalibrationProfile | None = None


def background(array, axes: str) -> str | None:
    """'light' or 'dark': where the median of ``array`` lies in its intensity range; None where
    that range is noise alone (a background-only field: the median of noise lies mid-range, so
    a dark fluorescence field's empty crop was called 'light')."""
    array = np.asarray(array)
    flat = array.ravel()
    flat = flat[:: max(1, flat.size // 2**18)].astype(np.float32)  # ~0.26 M samples: enough
    low, high, median = np.percentile(flat, [0.1, 99.9, 50])
    if high - low <= NOISE_ONLY_RANGE * _noise(array, axes):
        return None
    return "light" if median - low > LIGHT_BACKGROUND * max(high - low, 1e-12) else "dark"


def _noise(array: np.ndarray, axes: str) -> float:
    """The noise sigma, from the differences of neighbours along X (their MAD, as
    ``core.focus.structure_mask`` measures it), on ~0.26 M of them."""
    rows = np.moveaxis(array, axes.index("X"), -1)
    rows = rows.reshape(-1, rows.shape[-1])
    rows = rows[:: max(1, rows.size // 2**18)].astype(np.float32)
    diff = np.diff(rows, axis=-1).ravel()
    if diff.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(diff - np.median(diff))) / np.sqrt(2))


def image_profile(array, axes: str) -> dict:
    """What a file is like, in the terms ``CalibrationProfile`` compares."""
    array = np.asarray(array)
    return {"dtype": str(array.dtype), "axes": axes,
            "plane": (int(array.shape[axes.index("Y")]), int(array.shape[axes.index("X")])),
            "background": background(array, axes)}


@dataclass
class CalibrationProfile:
    """The calibration images' dtypes, axes, plane sizes and backgrounds; ``said``: the
    differences already warned about (once per kind and value)."""

    profiles: list
    said: set = field(default_factory=set)

    def differences(self, profile: dict) -> list[str]:
        """How ``profile`` differs from every calibration image, in words."""
        found = []
        for kind, words in (("dtype", "dtype"), ("axes", "axes"),
                            ("background", "background")):
            # a background of noise alone (None) is compared with nothing
            theirs = sorted({p[kind] for p in self.profiles} - {None})
            if profile[kind] is not None and theirs and profile[kind] not in theirs:
                found.append(f"{words} {profile[kind]} (calibration: {'/'.join(theirs)})")
        ny, nx = profile["plane"]
        low = min(min(p["plane"]) for p in self.profiles)
        high = max(max(p["plane"]) for p in self.profiles)
        if min(ny, nx) * PLANE_SIZE_FACTOR < low or max(ny, nx) > PLANE_SIZE_FACTOR * high:
            found.append(f"plane {ny} x {nx} px (calibration: {low}-{high} px a side)")
        return found

    def warn(self, name: str, profile: dict) -> list[str]:
        """The differences of one file (for its record), each kind said once in one line."""
        found = self.differences(profile)
        new = [d for d in found if d not in self.said]
        if new:
            self.said.update(new)
            print(f"microdeblur: warning: {name} is unlike the calibration images: "
                  f"{'; '.join(new)}; its score may not compare with the threshold (calibrate "
                  "on images like it; said once per kind of file)", file=sys.stderr, flush=True)
        return found


def _score_folder(folder: str, args) -> tuple[list, list, list, list]:
    """(scores, names left out as blank, profiles, noise floors) of a calibration folder's
    images: each scored by its softest plane among those ``core.focus_calibration`` calibrates
    on (the Focus dock's rule: a plane of faint glow, scoring as noise, is left out of the good
    images; of the soft ones, --calibrate-bad, only planes without structure are)."""
    from .core import io
    from .core.files import find_inputs, image_axes
    from .core.focus_calibration import good_units

    scores, blank, profiles, floors, peaks = [], [], [], [], {}
    for path in find_inputs(folder):
        data = io.read_image(path, lazy=False)
        axes = image_axes(data, args.axes)
        array = np.asarray(data.array)
        # scored with the --axes the watched files are scored with (a guess here, --axes there,
        # put the threshold above the very images it was calibrated on); a blank plane's score
        # pulled its image's, and the threshold, towards 0
        units = good_units(array, axes=axes, camera_offset=args.camera_offset)
        kept = units.structure if folder == args.calibrate_bad else units.kept
        if not kept.any():
            blank.append(path.name)
            if args.camera_offset and array.size and float(array.max()) <= args.camera_offset:
                peaks[path.name] = float(array.max())
            continue
        softest = np.flatnonzero(kept.ravel())[np.argmin(units.scores[kept])]
        scores.append(float(units.scores.ravel()[softest]))
        floors.append(float(units.floors.ravel()[softest]))
        profiles.append(image_profile(array, axes))
    option = "--calibrate-bad" if folder == args.calibrate_bad else "--calibrate"
    if peaks:
        _offset_above(option, folder, args.camera_offset, peaks, all_of=not scores
                      and len(peaks) == len(blank))
    rest = [n for n in blank if n not in peaks]
    if rest:
        print("microdeblur: left out of the calibration, constant or background noise only "
              f"(no structure, or faint structure scoring as noise): {', '.join(rest)}",
              file=sys.stderr, flush=True)
    if not scores:
        raise UserError(f"{option} {shown_path(folder)}: every image there is constant or "
                        "background noise only; give a folder of images with structure")
    return scores, blank, profiles, floors


def _offset_above(option: str, folder: str, offset: float, peaks: dict, all_of: bool) -> None:
    """--camera-offset at or above every pixel of some calibration images: each was left out as
    blank with no word of the offset (`focus` says it: ``cli_focus._offset_above_all``); said
    in one line, an error when no image is left."""
    peak = max(peaks.values())
    if all_of:
        raise UserError(f"--camera-offset {offset:g} is at or above every pixel of every image "
                        f"in {option} {shown_path(folder)} (their brightest: {peak:g}), so "
                        f"nothing is left to score: give the camera's dark level, below "
                        f"{peak:g} (or leave --camera-offset out)")
    print(f"microdeblur: warning: {', '.join(peaks)} ({option}): every pixel is at or below "
          f"--camera-offset {offset:g} (brightest: {peak:g}), so nothing is left to score; "
          f"left out of the calibration (if it holds a sample, give the camera's dark level, "
          f"below {peak:g})", file=sys.stderr, flush=True)


def _few_images(count: int, percentile: float, margin: float) -> None:
    # the percentile of so few scores lies between the two lowest: about the lowest, no margin
    if 0 < percentile and percentile * (count - 1) < 100:
        print(f"microdeblur: warning: {count} known-good image{'s' * (count > 1)}: percentile "
              f"{percentile:g} of so few scores is about the lowest, and an in-focus field "
              f"scoring lower is deblurred; the threshold is {margin:g} x it (--margin); "
              f"{int(100 / percentile) + 1} or more images, or --calibrate-bad SOFT_DIR, place "
              "it better", file=sys.stderr, flush=True)


def _noise_warning(threshold: float, scores: list, floors: list, folder: str) -> None:
    """One line where the threshold lies at what the good images' pixel noise alone scores
    (``core.focus_calibration.noise_note``): nearly nothing would be deblurred."""
    from .core.focus_calibration import GoodUnits, noise_note

    values = np.asarray(scores, dtype=np.float64)
    units = GoodUnits(values, np.ones(values.shape, bool), np.ones(values.shape, bool),
                      np.asarray(floors, dtype=np.float64))
    words = noise_note(threshold, units, f"the images in {folder}", "image")
    if words:
        print(f"microdeblur: warning: {words}", file=sys.stderr, flush=True)


def watch_threshold(args) -> Threshold:
    """The threshold of --threshold, or calibrated on --calibrate (and --calibrate-bad)."""
    from .core.focus import calibrate_threshold

    offset = args.camera_offset
    if args.threshold is not None:  # one of the two, by check_watch_options
        return Threshold(float(args.threshold), {"option": "--threshold"}, offset)
    scores, blank, profiles, floors = _score_folder(args.calibrate, args)
    margin = DEFAULT_MARGIN if args.margin is None else args.margin
    less = f", camera offset {offset:g} subtracted" if offset else ""
    # the folder's name only: records travel inside shared files (core.provenance)
    origin = {"option": "--calibrate", "folder": Path(args.calibrate).resolve().name,
              "percentile": float(args.percentile), "images": len(scores),
              "left_out": len(blank)}
    if args.calibrate_bad is None:
        _few_images(len(scores), args.percentile, margin)
        threshold = calibrate_threshold(scores, percentile=args.percentile, margin=margin)
        print(f"threshold {threshold:.6g}: {margin:g} x percentile {args.percentile} of "
              f"{len(scores)} known-good images in {args.calibrate}{less}", flush=True)
        _noise_warning(threshold, scores, floors, args.calibrate)
        return Threshold(threshold, {**origin, "margin": float(margin)}, offset,
                         CalibrationProfile(profiles))
    bad, bad_blank, bad_profiles, _ = _score_folder(args.calibrate_bad, args)
    threshold = calibrate_threshold(scores, percentile=args.percentile, bad_scores=bad)
    good_low = float(np.percentile(scores, args.percentile))
    bad_high = float(np.percentile(bad, 100 - args.percentile))
    print(f"threshold {threshold:.6g}: between percentile {args.percentile} of {len(scores)} "
          f"known-good images in {args.calibrate} ({good_low:.6g}) and percentile "
          f"{100 - args.percentile:g} of {len(bad)} known-soft images in {args.calibrate_bad} "
          f"({bad_high:.6g}), their geometric mean{less}", flush=True)
    if bad_high >= good_low:
        print(f"microdeblur: warning: the known-soft images score as high as the known-good "
              f"ones ({bad_high:.6g} >= {good_low:.6g}): no threshold tells them apart; check "
              "the two folders, or lower --percentile", file=sys.stderr, flush=True)
    origin.update(bad_folder=Path(args.calibrate_bad).resolve().name, bad_images=len(bad),
                  bad_left_out=len(bad_blank), good_score=good_low, bad_score=bad_high)
    return Threshold(threshold, origin, offset, CalibrationProfile(profiles + bad_profiles))
