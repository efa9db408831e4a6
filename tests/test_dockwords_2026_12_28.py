"""The Deblur dock relays the core's run notes in its own words and at their level: the PSF
estimate's advice names the dock's "PSF from beads..." button, not the CLI's psf-from-beads,
and Wiener's balance 'auto' line (a DeblurNote) is an info notification, not a warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

napari = pytest.importorskip("napari")

from napari.utils.notifications import notification_manager  # noqa: E402

from napari_microdeblur._widgets._feedback import warning_relay  # noqa: E402
from napari_microdeblur.core.notes import DeblurNote, DeblurWarning  # noqa: E402
from napari_microdeblur.core.psf_estimate import EstimatedPsf  # noqa: E402

#: the line the PSF estimate warns with where the image poorly settles the blur width
FLAT_PSF_LINE = EstimatedPsf(1.5, 1.42, 18.0, 1e-3, sigma_range=(0.7, 2.8)).flat_warning()


def _relayed(*caught) -> tuple[list[str], list]:
    """What ``warning_relay`` put in the status list and napari's notifications for the
    ``warnings`` given, as a worker's ``warned`` signal hands them over."""
    seen: list[str] = []
    relay = warning_relay(seen)
    before = len(notification_manager.records)
    for w in caught:
        relay((w.message, w.category, w.filename, w.lineno, None, None))
    return seen, notification_manager.records[before:]


def _warned(text: str, category) -> warnings.WarningMessage:
    with warnings.catch_warnings(record=True) as held:
        warnings.simplefilter("always")
        warnings.warn(text, category, stacklevel=1)
    return held[0]


def test_psf_estimate_note_names_the_docks_button_not_the_cli_command():
    seen, shown = _relayed(_warned(FLAT_PSF_LINE, DeblurWarning))
    assert [str(n.message) for n in shown] == seen  # one line: the toast is the status's
    assert "psf-from-beads" not in seen[0]
    assert 'the "PSF from beads..." button' in seen[0]
    assert "'widefield:na=...,wavelength=...,pixel=...'" in seen[0]  # a quoted value stays
    assert str(shown[0].severity) == "warning"  # a risk to the result: still a warning


def test_the_core_line_keeps_the_cli_words_and_a_whole_command_stays():
    assert "(psf-from-beads, or 'widefield:" in FLAT_PSF_LINE  # what the CLI prints
    command = "a larger radius: radius=11 (microdeblur psf-from-beads --radius 11)"
    seen, _ = _relayed(_warned(command, DeblurWarning))
    assert seen == [command]


def test_wiener_balance_auto_is_an_info_notification_in_the_dock():
    from napari_microdeblur.core.image_settings import balance_for
    from napari_microdeblur.core.method import MethodSpec
    from napari_microdeblur.core.psf import gaussian_psf

    rng = np.random.default_rng(0)
    image = rng.normal(100, 5, (128, 128)).astype(np.float32)
    spec = MethodSpec("wiener", psf=gaussian_psf(1.5), balance="auto")
    with warnings.catch_warnings(record=True) as held:
        warnings.simplefilter("always")
        balance_for(spec, image, "YX")
    lines = [w for w in held if str(w.message).startswith("wiener: balance")]
    assert lines and lines[0].category is DeblurNote  # what the CLI prints, as it was
    seen, shown = _relayed(*lines)
    assert seen and seen[0].startswith("wiener: balance")  # the status line still has it
    assert [str(n.severity) for n in shown] == ["info"]
