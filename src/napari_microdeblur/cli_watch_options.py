"""The options of `microdeblur watch` (``cli_watch``): its arguments, and the checks of their
values before any file is read or written."""

from __future__ import annotations

from .cli import UserError
from .cli_watch_calibration import DEFAULT_MARGIN
from .cli_watch_log import WATCH_LOG

#: --calibrate's percentile of the good images' scores where --percentile is not given
DEFAULT_PERCENTILE = 5.0


def check_watch_options(args) -> None:
    """The watch's own numeric options, before any file is read or written; an unset
    --percentile becomes ``DEFAULT_PERCENTILE`` (None tells whether it was given)."""
    import math

    from .core.focus import check_camera_offset

    check_camera_offset(args.camera_offset)
    if (args.threshold is None) == (args.calibrate is None):
        raise UserError("give exactly one of --threshold T or --calibrate GOOD_DIR")
    if args.threshold is not None and not math.isfinite(args.threshold):
        raise UserError(f"--threshold {args.threshold:g}: give a finite focus score")
    if args.threshold is not None and args.threshold <= 0:
        # no score is below 0: every file would be copied, none deblurred
        raise UserError(f"--threshold {args.threshold:g}: give a focus score > 0 (as "
                        "`microdeblur focus` prints them)")
    given = [o for o, v in (("--percentile", args.percentile), ("--margin", args.margin))
             if v is not None]
    if args.threshold is not None and given:  # they only shape a calibrated threshold
        raise UserError(f"{' and '.join(given)} set{'s' * (len(given) == 1)} how --calibrate "
                        "puts the threshold; with --threshold T it is T: drop "
                        f"{' and '.join(given)}, or calibrate instead of --threshold")
    if args.percentile is None:
        args.percentile = DEFAULT_PERCENTILE
    if args.calibrate_bad is not None and args.calibrate is None:
        raise UserError("--calibrate-bad SOFT_DIR goes with --calibrate GOOD_DIR: give both")
    if args.margin is not None and args.calibrate_bad is not None:
        raise UserError("--margin is not used with --calibrate-bad (the threshold lies between "
                        "the two groups): give one of them")
    if args.margin is not None and not 0 < args.margin <= 1:  # also refuses NaN
        raise UserError(f"--margin {args.margin:g}: give a number > 0 and <= 1")
    if not 0 <= args.percentile <= 100:  # also refuses NaN
        raise UserError(f"--percentile {args.percentile:g}: give a number between 0 and 100")
    # 0 would scan the folder in a busy loop
    if not (math.isfinite(args.poll) and args.poll > 0):
        raise UserError(f"--poll {args.poll:g}: give a number of seconds > 0")
    # NaN would never count a file as settled, so --once would never end
    if not (math.isfinite(args.settle) and args.settle >= 0):
        raise UserError(f"--settle {args.settle:g}: give a number of seconds >= 0")
    if not (math.isfinite(args.incomplete_after) and args.incomplete_after >= 0):
        raise UserError(f"--incomplete-after {args.incomplete_after:g}: give a number of "
                        "seconds >= 0")


def add_watch_arguments(p) -> None:
    """The arguments of the watch's parser ``p``."""
    from .cli_options import add_method_options

    p.add_argument("input_dir", help="the folder to watch (must exist; its own image files "
                   "only, or with -r its subfolders' too)")
    p.add_argument("output_dir", help=f"an existing folder, not input_dir: soft files are "
                   f"deblurred into it as <name>_deblurred.tif, in-focus (and blank) ones copied "
                   f"as they are, and each file logged in {WATCH_LOG} there")
    p.add_argument("--threshold", type=float,
                   help="deblur files whose focus score (as `microdeblur focus FILE` prints it; "
                   "relative, no unit) is below T; or give --calibrate")
    p.add_argument("--calibrate", metavar="GOOD_DIR",
                   help="set the threshold from known-good images (see --percentile); or "
                   "give --threshold")
    p.add_argument("--percentile", type=float, default=None,
                   help="with --calibrate: this percentile of the good images' scores "
                   "(with --calibrate-bad: and 100 minus it of the soft ones'); default "
                   f"{DEFAULT_PERCENTILE:g}")
    p.add_argument("--margin", type=float, default=None, metavar="F",
                   help="with --calibrate: the threshold is F x that percentile (0 < F <= 1; "
                   f"default {DEFAULT_MARGIN:g}, the percentile itself); below 1 leaves room "
                   "for in-focus fields scoring below the good images, and copies more soft "
                   "ones")
    p.add_argument("--calibrate-bad", metavar="SOFT_DIR",
                   help="with --calibrate: known out-of-focus images; the threshold is the "
                   "geometric mean of the good images' percentile and the soft ones' 100 - "
                   "percentile (no --margin)")
    p.add_argument("--camera-offset", type=float, default=0.0, metavar="ADU",
                   help="the camera's dark level, subtracted before every focus score (the "
                   "calibration's and the files'), as `microdeblur focus --camera-offset` "
                   "does; default 0")
    p.add_argument("--poll", type=float, default=1.0,
                   help="seconds between folder scans (default %(default)g)")
    p.add_argument("--settle", type=float, default=2.0,
                   help="a file is complete once unchanged for this many seconds (default "
                   "%(default)g)")
    p.add_argument("--incomplete-after", type=float, default=600.0, metavar="SECONDS",
                   help="a TIFF holding fewer planes than its metadata declares, or a file of "
                   "a multi-file OME dataset whose other file is not there yet (still being "
                   "written) is waited for; unchanged this long, it is logged 'incomplete', "
                   "neither deblurred nor copied, and looked at again once it changes "
                   "(default %(default)g)")
    p.add_argument("--once", action="store_true",
                   help="process what is there, then exit: 2 if this run logged a file "
                   "failed, unreadable or incomplete (neither deblurred nor copied), else 0")
    p.add_argument("-r", "--recursive", action="store_true",
                   help="watch the subfolders' images too (the output folder left out), each "
                   "output in the same subfolder of output_dir (created as needed)")
    p.add_argument("--follow-links", action="store_true",
                   help="follow symbolic links wherever they point; by default a link in the "
                   "watched folder is followed only where it leads inside it (not into "
                   "output_dir): one to a file or folder elsewhere (another user's images, a "
                   "whole volume) is left out and said once. Either way, a file reached both "
                   "through a link and under its own name is processed once")
    add_method_options(p)
