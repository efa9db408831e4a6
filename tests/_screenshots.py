"""Screenshots of the docks for docs/images (opt-in: MICRODEBLUR_SCREENSHOTS=1)."""

import os
from pathlib import Path

import pytest

screenshots = pytest.mark.skipif(
    not os.environ.get("MICRODEBLUR_SCREENSHOTS"),
    reason="set MICRODEBLUR_SCREENSHOTS=1 to rewrite docs/images/*.png",
)
IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"


def take_screenshot(viewer, qtbot, name: str, *, reset_view: bool = False,
                    size: tuple[int, int] = (1500, 950)) -> None:
    """Write the whole window (docks included), ``size`` px, to docs/images/<name>; the docks
    scroll, so a dock taller than the window shows only its top."""
    from napari._qt.dialogs.qt_notification import NapariQtNotification
    from skimage.io import imsave

    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()  # transient toasts would cover the canvas
    viewer.window._qt_window.resize(*size)
    qtbot.wait(300)
    if reset_view:
        viewer.reset_view()  # fit the image to the canvas at its final size
    qtbot.wait(300)
    IMAGES.mkdir(parents=True, exist_ok=True)
    imsave(IMAGES / name, viewer.screenshot(canvas_only=False, flash=False),
           check_contrast=False)
