"""Defects found by the third 2026-12-04 audit: PSF files with channels, the focus NaN message,
Focus QC overlays of a renamed layer, demo --method's list, and implausible guessed axes."""

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core.axes import check_axes
from napari_microdeblur.core.bundled import list_bundled_weights
from napari_microdeblur.core.focus import focus_score
from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.psf import gaussian_psf, read_psf

TIMEOUT = 60_000  # ms


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_a_psf_file_with_channels_is_refused_saying_what_a_psf_file_is(tmp_path, capsys):
    """A (2, 97, 97) two-channel PSF was read as 2 Z planes, then refused as 'psf shape (97,
    97) is larger than the image (96, 96)'."""
    image = tmp_path / "img96.tif"
    tifffile.imwrite(image, np.random.default_rng(0).random((96, 96)).astype(np.float32))
    psf = gaussian_psf(2.0, size=97)
    files = {"tifffile": dict(metadata={"axes": "CYX"}),
             "imagej": dict(imagej=True, metadata={"axes": "CYX"})}
    for name, kwargs in files.items():
        path = tmp_path / f"c2_{name}.tif"
        tifffile.imwrite(path, np.stack([psf, psf]), **kwargs)
        with pytest.raises(ValueError, match=r"has 2 channels .*accepted: one channel, 2D \(YX\) "
                                             r"or 3D \(ZYX\)"):
            read_psf(path)
        argv = ["deblur", str(image), "-o", str(tmp_path / "o.tif"), "--psf", str(path),
                "--device", "cpu", "-q"]
        assert main(argv) == 2
        err = _one_error_line(capsys)
        assert "2 channels" in err and "larger than the image" not in err
        assert not (tmp_path / "o.tif").exists()
    # a labelled z-stack PSF, and one channel of a channel axis, are still read
    tifffile.imwrite(tmp_path / "z.tif", np.stack([psf] * 3), photometric="minisblack",
                    metadata={"axes": "ZYX"})
    assert read_psf(tmp_path / "z.tif").shape == (3, 97, 97)
    tifffile.imwrite(tmp_path / "c1.tif", psf[None], metadata={"axes": "CYX"})
    assert read_psf(tmp_path / "c1.tif").shape == (97, 97)


def test_focus_on_nan_pixels_says_what_to_change(tmp_path, capsys):
    image = np.random.default_rng(0).random((96, 96)).astype(np.float32)
    image[3, 3] = np.nan
    with pytest.raises(ValueError, match=r"NaN or Inf pixels; replace them \(e\.g\. "
                                         r"np\.nan_to_num\)"):
        focus_score(image)
    tifffile.imwrite(tmp_path / "nan.tif", image)
    assert main(["focus", str(tmp_path / "nan.tif")]) == 2
    assert "np.nan_to_num" in _one_error_line(capsys)


def _score(qtbot, widget) -> None:
    assert widget.score() is not None
    qtbot.waitUntil(lambda: not widget._workers, timeout=TIMEOUT)


def test_focus_overlays_follow_a_renamed_layer_without_a_second_set(make_napari_viewer, qtbot,
                                                                    fluo_u8):
    """After a rename, a dock opened again added a second heatmap and outline layer on Score
    instead of updating (and renaming) the ones drawn for the layer."""
    viewer = make_napari_viewer()
    image = viewer.add_image(fluo_u8, name="nuclei")
    _, w = viewer.window.add_plugin_dock_widget("napari-microdeblur", "Focus QC")
    w.tile_spin.setValue(32)
    _score(qtbot, w)
    drawn = [w.heatmap_layer, w.outline_layer]
    assert [la.name for la in viewer.layers] == [
        "nuclei", "nuclei focus [tile 32]", "nuclei soft tiles [tile 32]"]
    image.name = "cells"
    _score(qtbot, w)  # the same dock
    expected = ["cells", "cells focus [tile 32]", "cells soft tiles [tile 32]"]
    assert [la.name for la in viewer.layers] == expected
    image.name = "renamed"
    viewer.window.remove_dock_widget("all")
    _, again = viewer.window.add_plugin_dock_widget("napari-microdeblur", "Focus QC")
    assert again is not w
    again.tile_spin.setValue(32)
    _score(qtbot, again)
    assert [la.name for la in viewer.layers] == [
        "renamed", "renamed focus [tile 32]", "renamed soft tiles [tile 32]"]
    assert [again.heatmap_layer, again.outline_layer] == drawn
    assert again.heatmap_layer.metadata["microdeblur"]["focus_heatmap_of"] == "renamed"


def test_demo_method_lists_only_networks_demo_runs(capsys):
    """The list held auto, the classical methods and bare architectures, which demo refuses,
    and an RGB network, which fails on its grayscale sample."""
    assert main(["demo", "--method", "nope"]) == 2
    err = _one_error_line(capsys)
    assert "'nope'" in err and "bundled network name" in err
    listed = err.split("choose one of ")[1].split(", ")
    assert "gran.fluo_v1" in listed and "wiener_unet.psf_v4" in listed
    assert set(listed) <= set(list_bundled_weights())
    assert not {"auto", "wiener", "richardson_lucy", "gran", "c2f_unet", "gran.hist_v1"} & set(
        listed)
    assert main(["demo", "--method", "gran.hist_v1"]) == 2
    assert "grayscale" in _one_error_line(capsys)


def test_a_guess_that_makes_narrow_planes_says_axes_were_guessed():
    """(96, 96, 2) was guessed ZYX, and the deblur then said the PSF was larger than the image
    '(96 x 2 px in YX)' without mentioning axes."""
    image = np.random.default_rng(0).random((96, 96, 2)).astype(np.float32)
    with pytest.raises(ValueError, match=r"axes were not given and the guess 'ZYX' .* 96 x 2 px; "
                                         r"give the axes, e\.g\. axes='YXS' "
                                         r".*read as gray \+ alpha"):
        deblur(image, method="wiener", psf="gaussian:1.5", balance=0.01)
    assert deblur(image, method="wiener", psf="gaussian:1.5", balance=0.01,
                  axes="YXC").shape == image.shape
    with pytest.raises(ValueError, match=r"axes='ZYXC'"):
        check_axes(None, (10, 96, 96, 2))
    # plausible guesses are unchanged
    for shape, axes in (((96, 2), "YX"), ((5, 96, 96), "ZYX"), ((64, 64, 3), "YXS"),
                        ((2, 10, 64, 64), "CZYX"), ((4, 4, 4), "YXS")):
        assert check_axes(None, shape) == axes
