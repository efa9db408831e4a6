"""The lines a deblur gives about what it did to an image (alpha passed through, a signed
image raised for Richardson-Lucy, a tile much smaller than the method's own), and holding a
deblur's lines until it is settled; used by ``inference.prepare_deblur``, which re-exports
the notes. A network's clipped pixels: ``saturation.clip_note``."""

from __future__ import annotations

import contextlib
import warnings

from .axes import Layout
from .method import Method
from .thread_warnings import caught
from .tile_options import WORK_LIMIT, TileOptions, seams_left, tiling_work

#: The line an RGBA image's deblur gives: alpha is opacity, not light a PSF spread
ALPHA_NOTE = ("RGBA image: the R, G and B channels are deblurred; the alpha channel (4th "
              "sample) is passed through unchanged")
#: ... and a grayscale + alpha image's (2 samples, a PNG in mode 'LA')
GRAY_ALPHA_NOTE = ("grayscale + alpha image: the gray channel is deblurred; the alpha channel "
                   "(2nd sample) is passed through unchanged")


def signed_rl_note(least: float) -> str:
    """The line a Richardson-Lucy deblur of an image holding values below 0 gives."""
    return (f"richardson_lucy needs intensities >= 0: this image (min {least:.4g}) was deblurred "
            f"raised by {-least:.4g} and lowered back, which keeps its mean; a raised background "
            "slows RL: to deblur harder, clip the image at 0 first (this raises its mean)")


def small_tile_note(method: Method, layout: Layout, options: TileOptions, tile) -> str:
    """The line a given ``tile`` gets when its tiles, mostly overlap, cost more than 3x the
    pixels of the method's default tiling for this image ('' otherwise): tile=96 ran a
    512 x 512 image in 729 tiles. '' too where its overlap is below the method's: the seam
    warning (``tile_options.low_overlap_note``) says the work in the same line."""
    if seams_left(method, options.tile, options.overlap, layout.spatial_shape):
        return ""
    work = tiling_work(method, layout, options.tile, options.overlap, options.device)
    if work is None or work.ratio <= WORK_LIMIT:  # None: no default tiling to compare with
        return ""
    side = " x ".join(map(str, work.usual_tile))
    # one wording for every front end (the docks' Tile box, --tile, tile=): warnings are not
    # reworded per front end as errors are
    return (f"a tile of {tile} px cuts each plane into {work.tiles} tiles that overlap by "
            f"{max(options.overlap)} px: {work.ratio:.1f}x the work of the method's default "
            f"tile ({side}, {work.usual_tiles} tile{'s' * (work.usual_tiles > 1)}), which is "
            "faster unless memory is short")


@contextlib.contextmanager
def warnings_after_success():
    """Hold the warnings raised inside until the block succeeds: a deblur refused for another
    reason (a tile too small for the PSF) then gives its error alone, not also the lines of
    what it had settled first (the iterations 'auto' found)."""
    with caught() as held:  # this thread's alone (a dock's deblur runs in a worker thread)
        yield
    for w in held:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
