"""The categories of the package's warnings, for users to filter them.

``DeblurNote``: a line that only says what was chosen or done automatically (a PSF estimated
from the image, the iterations or balance 'auto' found, alpha passed through). In a loop over
thousands of tiles each says something slightly different, so Python's default filter never
merges them: ``warnings.simplefilter("ignore", DeblurNote)`` silences them alone.

``DeblurWarning``: a line on a risk to the result (clipped pixels, a PSF cut off, a safeguard
that blended toward Wiener, a guess of axes in doubt, images of a file left out).

Both subclass ``UserWarning``: code that catches or filters UserWarning sees them as before."""

from __future__ import annotations

__all__ = ["DeblurNote", "DeblurWarning"]


class DeblurNote(UserWarning):
    """What a deblur chose or did by itself; safe to ignore."""


class DeblurWarning(UserWarning):
    """A risk to the result that the user may have to act on."""
