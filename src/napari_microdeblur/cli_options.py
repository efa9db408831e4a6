"""The options deblur and watch share, degrade's parser, and the PSF forms and examples shown
under the --help of every command that takes --psf (cli.build_parser)."""

from __future__ import annotations

import argparse
import os
import textwrap

from .core.options import AUTO_BALANCE, AUTO_ITERATIONS

#: the --psf forms, one a line: argparse wraps an option's help inside words
#: ('wavelengt' / 'h=0.52'), so these go in the epilog, which RawDescriptionHelpFormatter
#: prints as written
PSF_FORMS = """\
PSF (--psf), one of:
  gaussian:SIGMA[,SIGMA_X]         Gaussian; sigmas in pixels
  disk:RADIUS                      uniform disk (defocus); radius in pixels
  astig:S_MAJOR,S_MINOR,ANGLE_DEG  astigmatic Gaussian; sigmas in pixels
  widefield:na=NA,wavelength=UM,pixel=UM[,ni=,ns=,depth=,size=]
      and [,defocus=] (2D) or [,nz=,dz=] (3D): a computed optics PSF (needs
      the psfmodels package); ni, ns: immersion and sample refractive indices
  confocal:(the widefield keys)[,excitation_wavelength=UM,pinhole=AIRY_UNITS]
      UM: micrometres (wavelengths, pixel, depth, defocus, dz); pixel= and
      dz= may be left out where the image file states its pixel size
  FILE.tif    a measured PSF, 2D YX or 3D ZYX (psf-from-beads writes one)
  estimate    a Gaussian, possibly astigmatic, estimated from the image
  PSF;PSF     one PSF per channel of the C axis, in channel order (quote it)
"""

#: whole examples, one a line, each parsed by tests/test_cli_help_2026_12_05.py
PSF_EXAMPLES = """\
examples (one a line, to copy):
  --psf gaussian:1.6
  --psf disk:3
  --psf astig:2.5,0.8,30
  --psf widefield:na=1.4,wavelength=0.52,pixel=0.065
  --psf widefield:na=1.4,wavelength=0.52,pixel=0.065,nz=31,dz=0.2
  --psf confocal:na=1.4,wavelength=0.52,pixel=0.065,pinhole=1
  --psf psf.tif
  --psf estimate
  --psf "widefield:na=1.4,wavelength=0.46,pixel=0.1;widefield:na=1.4,wavelength=0.61,pixel=0.1"
"""


def psf_epilog(note: str = "", per_channel: bool = True) -> dict:
    """add_parser keywords that print the PSF forms and examples under the options; ``note``:
    what the command does not take, ``per_channel``: whether it takes one PSF per channel."""
    examples = PSF_EXAMPLES if per_channel else "".join(
        line for line in PSF_EXAMPLES.splitlines(keepends=True) if ";" not in line)
    note = note and textwrap.fill(note, 79, initial_indent="  ", subsequent_indent="  ") + "\n"
    return dict(epilog=PSF_FORMS + note + "\n" + examples,
                formatter_class=argparse.RawDescriptionHelpFormatter)


def _iterations(text: str):
    """--iterations: an integer, or 'auto'; anything else reaches the method's check as it is,
    which refuses it in one line (argparse would print its usage too)."""
    try:
        return int(text)
    except ValueError:
        return text


#: The most --iterations taken, as the Deblur dock's field. Past a few hundred, Richardson-Lucy
#: mostly amplifies noise ('auto' takes at most 100, the widest tuning grid 500), and each
#: iteration costs about 1.4 ms per 256 x 256 px and 75 ms per 1024 x 1024 px on one CPU core:
#: 100000 were taken without a word and would have run for hours on a 2048 x 2048 image.
ITERATIONS_MAX = 1000


def check_iterations_cap(iterations) -> None:
    """--iterations above ``ITERATIONS_MAX`` refused (said as --iterations: cli_words)."""
    if isinstance(iterations, int) and iterations > ITERATIONS_MAX:
        raise ValueError(
            f"iterations={iterations} is more than {ITERATIONS_MAX}, the most taken (as in the "
            "Deblur dock): past a few hundred, Richardson-Lucy mostly amplifies noise, and each "
            "iteration takes about 75 ms per 1024 x 1024 px on a CPU core; give "
            f"{ITERATIONS_MAX} or fewer, or 'auto' (the count the image supports, at most 100)")


def _balance(text: str):
    """--balance: a number, or 'auto'; anything else as ``_iterations``."""
    try:
        return float(text)
    except ValueError:
        return text


PRECISION_HELP = ("network arithmetic (default auto: bfloat16 on CPUs with bf16 units and on CUDA "
                  "GPUs with bf16; float16 on CUDA GPUs without it, float32 there for a network "
                  "whose float16 output overflows (GRAB/GRAN); float32 elsewhere: MPS, older "
                  "CPUs)")


def add_method_options(p: argparse.ArgumentParser) -> None:
    """The deblurring options shared by deblur and watch."""
    _add_method_choice(p)
    _add_tiling_options(p)
    p.add_argument("--precision", default="auto",
                   choices=["auto", "float32", "bfloat16", "float16"], help=PRECISION_HELP)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar and no line per file; warnings and errors still print "
                   "(in a batch each names its file; a warning repeated with only its names "
                   "and numbers changed is said in full for the first file, then in one short "
                   "line per file, or with -q counted at the end, naming the first few)")
    if p.prog.split()[-1] == "deblur":  # watch checks no free space before its work
        p.add_argument("--no-space-check", action="store_true",
                       help="do not check, before any work, that the outputs fit in their "
                       "disk's free space; give it where a disk misreports its free space (a "
                       "FUSE or network mount) and the check refuses outputs that would fit: a "
                       "disk that fills then stops the run at the write that finds it full")


def _add_method_choice(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", default="auto",
                   help="auto (with --psf, the bundled PSF-aware network, or Richardson-Lucy "
                   "in 3D for a 3D PSF on a z-stack: one with under 50%% of its light in "
                   "focus on up to 16 planes, under 20%% on deeper stacks; without, the default "
                   "of the --modality; with --weights, the network that file describes), "
                   "richardson_lucy, wiener, an architecture with --weights, or a bundled "
                   "arch.tag such as gran.em_v1 (EM); `microdeblur methods` lists every name")
    p.add_argument("--modality", default="auto", choices=["auto", "em", "fluorescence",
                   "brightfield"], help="image type, for --method auto without --psf or "
                   "--weights (it does not apply with --weights or a named method): em and "
                   "brightfield run the PSF-aware network with a PSF estimated from the image "
                   "(as --psf estimate), fluorescence its blind network; auto is brightfield "
                   "for RGB, fluorescence for grayscale. Phase contrast and DIC images are not "
                   "blurred absorption images: deblurring sharpens their halos rather than "
                   "removing them")
    p.add_argument("--weights", help="weights file of a network (.safetensors/.pt/.zip); a "
                   ".safetensors file names its own architecture, so --method may be left out")
    p.add_argument("--psf", help="the PSF: a model (gaussian:, disk:, astig:, widefield:, "
                   "confocal:), a TIFF, estimate, or one per channel; forms and examples "
                   "below the options")
    p.add_argument("--iterations", type=_iterations, default=AUTO_ITERATIONS,
                   help=f"Richardson-Lucy iterations (1 to {ITERATIONS_MAX}), or 'auto' "
                   "(default): the count at which its blurred estimate best predicts pixels "
                   "held out of the image (at most 100; 30 for a 3D PSF). --method auto in 3D "
                   "runs at most this many (auto: 30), fewer where that check says so")
    p.add_argument("--tv-weight", type=float, default=0.0,
                   help="Richardson-Lucy total-variation weight (0 = off, the default; 0.002-0.02 "
                   "smooths noise; at most 0.1)")
    p.add_argument("--balance", type=_balance, default=AUTO_BALANCE,
                   help="Wiener balance (regularisation), or 'auto' (default): chosen per image "
                   "by generalised cross-validation (a 3D PSF runs 0.01)")
    p.add_argument("--noise-scale", type=float, default=1.0,
                   help="PSF-aware networks: x the noise level they estimate; about 2 smooths more "
                   "for a PSF that is only roughly right (fitted, guessed); default 1 (weights "
                   "fine-tuned on pairs with --psf also apply the scale calibrated then)")
    p.add_argument("--axes", help="axes of the input, e.g. YX, ZYX, TCZYX, YXS (RGB)")


class StoreGiven(argparse.Action):
    """Store the value, and ``<dest>_given = True``: an option typed, not left to its default
    (``--output-dtype float32`` asked of a .png is refused; the default is not)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_given", True)


def _add_tiling_options(p: argparse.ArgumentParser) -> None:
    # the defaults as core.tile_options finds them (a 300 px image ran as one 304 px tile of
    # the default network, whose card says 1024; the help said 256)
    p.add_argument("--tile", type=int,
                   help="tile side in pixels (default: from the method: the tile a network's "
                   "model card states: 1024 for the bundled c2f_unet networks, the default "
                   "without --psf; 1024 for the PSF-aware networks (4x the overlap for a wide "
                   "PSF); other networks 256 in 2D, 64 in 3D, raised to 4x their halo up to "
                   "1024 (3D: 256): gran and psf_cyclegan 256, sgpn 912; wiener and "
                   "richardson_lucy: the whole image while its FFT fits in memory, else tiles "
                   "of about 2048 px; an image smaller than the tile runs as one tile, padded "
                   "to the network's size multiple); the least depends on the method: more "
                   "than its receptive field (a network's halo, a PSF's size), said when a "
                   "tile is too small")
    p.add_argument("--overlap", type=int,
                   help="pixels two neighbouring tiles share (the whole overlap, not per side; "
                   "default: twice the network's halo, or of the PSF's)")
    p.add_argument("--window", default="cosine", choices=["cosine", "gaussian", "constant"],
                   help="how overlapping tiles are blended: weights tapering over the overlap "
                   "(cosine, gaussian) or flat (constant); default %(default)s")
    p.add_argument("--batch-size", type=int, default=1,
                   help="tiles per forward call (default %(default)s; more is faster on a GPU "
                   "and takes more memory)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--output-dtype", default="float32", choices=["float32", "input"],
                   action=StoreGiven,
                   help="input: the input's type, values clipped to its range (8-bit RGB opens "
                   "in any viewer); a .png output is always the input's 8 or 16 bits (float32 "
                   "typed for one is refused: write .tif)")


def unrecognized_words(parsed, extras: list[str]) -> str:
    """argparse's 'unrecognized arguments' line (``cli._OneLineParser.parse_args``); for
    deblur whose input and extra arguments all exist, what most likely happened: the shell
    expanded an unquoted pattern (in/t0*.png) into its files, and deblur takes one input
    (argparse had named the files past the first as 'unrecognized')."""
    plain = f"unrecognized arguments: {' '.join(extras)}"
    given = getattr(parsed, "input", None)
    paths = [given, *extras]
    if (getattr(parsed, "command", None) != "deblur" or not isinstance(given, str)
            or not all(os.path.exists(p) for p in paths)):
        return plain
    from .core.shown import shown_path

    head = ", ".join(shown_path(p) for p in paths[:2])
    more = f" and {len(paths) - 2} more" if len(paths) > 2 else ""
    folders = {os.path.dirname(p) or "." for p in paths}
    folder = f"give their folder ({shown_path(folders.pop())})" if len(folders) == 1 else (
        "give their folder (with --recursive for its subfolders)")
    return (f"{len(paths)} inputs given ({head}{more}), and deblur takes one: the shell "
            f"expands an unquoted pattern into its files; quote the pattern "
            f"({shell_pattern(paths)}) or {folder}")


def shell_pattern(paths: list[str]) -> str:
    """A quoted glob matching ``paths``: their common start, '*', their common end
    ('in/t0*.png' for in/t00.png and in/t01.png)."""
    start = os.path.commonprefix(paths)
    end = os.path.commonprefix([p[len(start):][::-1] for p in paths])[::-1]
    return f"'{start}*{end}'"


def add_degrade_command(sub, func) -> None:
    """`degrade`, run by ``func`` (cli.cmd_degrade)."""
    p = sub.add_parser("degrade",
                       help="apply a degradation protocol (A, B or C of docs/evaluation.md)")
    p.add_argument("input", help="the sharp image (any format microdeblur reads)")
    p.add_argument("-o", "--output", required=True,
                   help="the degraded image to write (float32, in the input's units)")
    p.add_argument("--protocol", required=True, choices=["A", "B", "C"],
                   help="A: Gaussian blur sigma 1.6 px + Gaussian noise 2/255; B: defocus disk "
                   "radius 3 px + Poisson (peak 200 photons) and read noise; C: astigmatic "
                   "Gaussian (2.5 and 0.8 px at 30 degrees) + Gaussian noise 2/255")
    p.add_argument("--seed", type=int, default=0,
                   help="noise seed: the same protocol and seed give the same image bit for bit "
                   "(default %(default)s)")
    p.add_argument("--axes", help="axes of the input, e.g. YX, ZYX, YXS (RGB) (default: from "
                   "the file); Z and T planes are blurred one by one, channels not across")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("-q", "--quiet", action="store_true", help="no line saying what was written")
    p.set_defaults(func=func)
