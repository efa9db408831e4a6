"""The package's warnings have categories users can filter (core.notes): a Python loop of
deblur(method auto, modality em) over 30 EM tiles printed 60 lines, each naming its tile's
PSF, so the default filter never merged them, and nothing silenced them short of every
UserWarning. DeblurNote (what was chosen or done automatically) can now be ignored alone;
DeblurWarning (a risk to the result) still shows. Both are UserWarnings."""

import dataclasses
import warnings

import numpy as np
import pytest
from scipy import ndimage

from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.notes import DeblurNote, DeblurWarning

ESTIMATED = "PSF estimated from the image"


def _texture(side: int = 160) -> np.ndarray:
    rng = np.random.default_rng(5)
    x = sum(ndimage.gaussian_filter(rng.random((side, side)), s) * s for s in (1, 3, 8))
    return ndimage.gaussian_filter((x - x.min()) / np.ptp(x), 1.5).astype(np.float32)


def _crops() -> list[np.ndarray]:
    """Five tiles; the third holds two planes, which an axes guess cannot tell from two
    channels (a risk: DeblurWarning)."""
    x = _texture()
    return [x[:64, :64], x[32:96, 32:96], np.stack([x[:64, 64:128], x[64:128, :64]]),
            x[96:, 96:], x[64:128, 64:128]]


def _loop(ignore_notes: bool) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        if ignore_notes:
            warnings.simplefilter("ignore", DeblurNote)  # as a user's loop would
        for crop in _crops():
            deblur(crop, method=MethodSpec("auto", modality="em"), device="cpu")
    return said


def test_a_loop_of_em_deblurs_ignores_its_notes_and_keeps_its_risks():
    said = _loop(ignore_notes=True)
    assert not [w for w in said if issubclass(w.category, DeblurNote)]
    risks = [w for w in said if issubclass(w.category, DeblurWarning)]
    assert len(risks) == 1 and "axes ZYX assumed for shape (2, 64, 64)" in str(risks[0].message)
    assert not any(ESTIMATED in str(w.message) for w in said)


def test_without_the_filter_each_tile_says_its_psf_as_a_note():
    said = _loop(ignore_notes=False)
    notes = [str(w.message) for w in said if w.category is DeblurNote]
    assert len(notes) == 5 and all(n.startswith(ESTIMATED) for n in notes)
    # still UserWarnings: the CLI, the docks and pytest.warns(UserWarning) see them as before
    assert all(issubclass(w.category, UserWarning) for w in said)
    assert [w.category for w in said].count(DeblurWarning) == 1


def test_a_psf_estimate_with_a_caveat_is_a_risk(monkeypatch):
    import napari_microdeblur.core.psf_estimate as pe

    real = pe.estimate_psf
    monkeypatch.setattr(pe, "estimate_psf",
                        lambda plane: dataclasses.replace(real(plane), jpeg_like=True))
    with pytest.warns(DeblurWarning, match=f"{ESTIMATED}.*JPEG's 8x8 blocks"):
        deblur(_crops()[0], method=MethodSpec("auto", modality="em"), device="cpu")


@pytest.mark.parametrize("read, category", [
    ((0.01, False, False), DeblurNote),  # GCV's own minimum: only a choice
    ((0.01, True, False), DeblurWarning),  # JPEG blocks: only low frequencies were read
    (None, DeblurWarning),  # GCV at its floor: the PSF looks wider than the blur
])
def test_the_balance_line_is_a_note_unless_it_carries_a_caveat(monkeypatch, read, category):
    import napari_microdeblur.core.psf_estimate as pe
    from napari_microdeblur.core.image_settings import balance_for

    floor = (pe.FIXED_BALANCE, False, True)
    monkeypatch.setattr(pe, "gcv_balance_read", lambda plane, psf: read or floor)
    spec = MethodSpec("wiener", psf="gaussian:1.6", balance="auto")
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        balance_for(spec, _texture(96), "YX")
    assert [w.category for w in said] == [category]
    assert str(said[0].message).startswith("wiener: balance")
