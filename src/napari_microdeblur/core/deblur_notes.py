"""The lines a deblur gives about what it did to an image (alpha passed through, a signed
image raised for Richardson-Lucy), and holding a deblur's lines until it is settled; used by
``inference.prepare_deblur``, which re-exports the notes."""

from __future__ import annotations

import contextlib
import warnings

from .thread_warnings import caught

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


@contextlib.contextmanager
def warnings_after_success():
    """Hold the warnings raised inside until the block succeeds: a deblur refused for another
    reason (a tile too small for the PSF) then gives its error alone, not also the lines of
    what it had settled first (the iterations 'auto' found)."""
    with caught() as held:  # this thread's alone (a dock's deblur runs in a worker thread)
        yield
    for w in held:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
