"""Audit of the Python API, the docks and the readers (2026-12-04, b): an RGBA image's alpha is
passed through, not deblurred as a 4th colour; a guessed axes string in doubt (a first axis of
2 to 4: channels, Z planes or time?) is said, by the docks and by the file readers; a layer
with NaN pixels is refused before a run starts. Classical methods on tiny images; the docks
run in a real viewer under Xvfb."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile

from napari_microdeblur.core.inference import ALPHA_NOTE, deblur, prepare_deblur
from napari_microdeblur.core.method import MethodSpec

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms
RL = {"method": "richardson_lucy", "psf": "gaussian:1.5", "iterations": 5}


def rgba(shape=(64, 64), seed=0) -> np.ndarray:
    """An RGBA uint8 image whose alpha varies (a cut-out, half transparent on one side)."""
    rng = np.random.default_rng(seed)
    image = (rng.random((*shape, 4)) * 200).astype(np.uint8)
    image[..., 3] = 255
    image[:, : shape[1] // 3, 3] = 40
    return image


def caught(run):
    with warnings.catch_warnings(record=True) as lines:
        warnings.simplefilter("always")
        result = run()
    return result, [str(w.message) for w in lines]


# ----------------------------------------------------------------------------- RGBA, API


@pytest.mark.parametrize("output_dtype", ["float32", "input"])
def test_rgba_array_deblurs_its_colours_and_passes_alpha_through(output_dtype):
    image = rgba()
    before = image.copy()
    out, lines = caught(lambda: deblur(image, output_dtype=output_dtype, **RL))
    assert out.shape == image.shape
    np.testing.assert_array_equal(out[..., 3], image[..., 3])  # was: deblurred as a colour
    alone = deblur(np.ascontiguousarray(image[..., :3]), output_dtype=output_dtype, **RL)
    np.testing.assert_allclose(out[..., :3], alone, rtol=1e-5, atol=1e-3)  # alpha not in stats
    assert ALPHA_NOTE in lines
    np.testing.assert_array_equal(image, before)


def test_rgba_auto_runs_what_auto_runs_on_its_colours():
    image = rgba((96, 96))
    prepared, _ = caught(lambda: prepare_deblur(image, None, MethodSpec()))
    colours, _ = caught(lambda: prepare_deblur(np.ascontiguousarray(image[..., :3]), None,
                                               MethodSpec()))
    # was: RGBA counted as 4 grayscale channels, so 'auto' ran the fluorescence network
    assert prepared.method.name == colours.method.name
    assert prepared.shape == image.shape


def test_rgba_lazy_tiff_into_a_tiff_output_passes_alpha_through(tmp_path):
    from napari_microdeblur.core import io, io_write

    image = rgba()
    path = tmp_path / "raw.tif"
    tifffile.imwrite(path, image.reshape(-1))  # raw bytes: read back as a lazy TiffArray
    with tifffile.TiffFile(path) as tif:
        offset = tif.series[0].dataoffset
    lazy = io.TiffArray(path, offset, image.shape, image.dtype)
    spec = MethodSpec("richardson_lucy", psf="gaussian:1.5", iterations=5)
    prepared, _ = caught(lambda: prepare_deblur(lazy, "YXS", spec))
    with io_write.open_tiff_output(tmp_path / "out.tif", prepared.shape, prepared.output_dtype,
                                   axes="YXS") as target:
        prepared.run(out=target)
    written = tifffile.imread(tmp_path / "out.tif")
    np.testing.assert_array_equal(written[..., 3], image[..., 3])
    np.testing.assert_allclose(written, deblur(image, **RL), rtol=1e-5, atol=1e-3)


def test_first_samples_index_like_the_array_but_never_past_the_colours():
    from napari_microdeblur.core.axes import FirstSamples

    array = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    view = FirstSamples(array, 2, 3)
    assert view.shape == (2, 3, 3)
    np.testing.assert_array_equal(np.asarray(view), array[..., :3])
    np.testing.assert_array_equal(view[..., -1], array[..., 2])  # -1 is blue, not alpha
    np.testing.assert_array_equal(view[1, ::-1], array[1, ::-1, :3])
    np.testing.assert_array_equal(view[0, :, ::-1], array[0, :, 2::-1])
    with pytest.raises(IndexError):
        view[..., 3]


# ----------------------------------------------------------------------------- guessed axes


def test_guess_note_says_what_a_first_axis_of_two_to_four_was_read_as():
    from napari_microdeblur.core.axes import guess_note

    note = guess_note((2, 5, 64, 64), "CZYX")
    assert "read as channels" in note and "axes='TZYX'" in note and "--axes TZYX" in note
    assert "read as Z planes" in guess_note((3, 96, 96), "ZYX")
    assert guess_note((9, 96, 96), "ZYX") is None  # a stack: not in doubt
    assert guess_note((9, 5, 64, 64), "TZYX") is None
    assert guess_note((96, 96, 3), "YXS") is None


@pytest.mark.parametrize(("kwargs", "axes", "words"), [
    ({}, "ZYX", "read as Z planes; if it holds channels, give axes='CYX'"),
    ({"photometric": "minisblack", "metadata": None}, "ZYX", "read as Z planes"),
    ({"photometric": "rgb", "planarconfig": "separate"}, "SYX", "read as RGB(A) samples"),
])
def test_a_tiff_without_axes_says_what_its_small_first_axis_was_read_as(tmp_path, kwargs,
                                                                        axes, words):
    from napari_microdeblur.core import io

    shape = (3, 96, 96) if axes == "SYX" else (2, 96, 96)
    tifffile.imwrite(tmp_path / "a.tif", np.zeros(shape, np.uint8), **kwargs)
    data = io.read_image(tmp_path / "a.tif")
    assert data.axes == axes  # the guess is kept, only said
    assert words in data.note  # was: no note


@pytest.mark.parametrize(("shape", "kwargs"), [
    ((2, 96, 96), {"imagej": True}),  # ImageJ says CYX
    ((2, 96, 96), {"metadata": {"axes": "CYX"}}),
    ((9, 96, 96), {}),  # a stack of 9: not in doubt
    ((96, 96, 3), {}),  # interleaved RGB
])
def test_a_tiff_whose_axes_are_not_in_doubt_has_no_note(tmp_path, shape, kwargs):
    from napari_microdeblur.core import io

    tifffile.imwrite(tmp_path / "a.tif", np.zeros(shape, np.uint8), **kwargs)
    assert io.read_image(tmp_path / "a.tif").note is None


def test_cli_deblur_prints_the_assumed_axes_unless_they_are_given(tmp_path, capsys):
    from napari_microdeblur.cli import main

    image = (np.random.default_rng(0).random((2, 48, 48)) * 200).astype(np.float32)
    tifffile.imwrite(tmp_path / "two.tif", image, metadata=None)
    base = ["deblur", str(tmp_path / "two.tif"), "--method", "wiener", "--psf", "gaussian:1",
            "--device", "cpu", "-q"]
    assert main([*base, "-o", str(tmp_path / "a.tif")]) == 0
    err = capsys.readouterr().err
    assert "axes ZYX assumed for shape (2, 48, 48)" in err and "--axes CYX" in err
    assert main([*base, "-o", str(tmp_path / "b.tif"), "--axes", "CYX"]) == 0
    assert "assumed" not in capsys.readouterr().err


def test_a_file_without_axes_says_what_the_guess_assumed():
    from napari_microdeblur.core.files import image_axes
    from napari_microdeblur.core.io import ImageData

    data = ImageData(array=np.zeros((2, 5, 32, 32), np.float32), axes="", path="v.zarr")
    with pytest.warns(UserWarning, match=r"v.zarr: axes CZYX assumed .* axes='TZYX'"):
        assert image_axes(data) == "CZYX"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert image_axes(data, "TZYX") == "TZYX"


# ----------------------------------------------------------------------------- the docks


@pytest.fixture
def notes():
    from napari.utils.notifications import notification_manager

    start = len(notification_manager.records)
    return lambda: [str(n.message) for n in notification_manager.records[start:]]


def open_dock(make_napari_viewer, data, dock="Deblur", **kwargs):
    viewer = make_napari_viewer()
    layer = viewer.add_image(data, name="cells", **kwargs)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, dock)
    widget.layer_combo.set_value(layer)
    return viewer, layer, widget


def run_rl(qtbot, w):
    w.set_method("richardson_lucy")
    w.psf_edit.setText("gaussian:1.5")
    w.iterations_spin.setValue(5)
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)
    return w.run()


def test_deblur_dock_passes_an_rgba_layers_alpha_through(make_napari_viewer, qtbot):
    image = rgba()
    viewer, layer, w = open_dock(make_napari_viewer, image)
    assert layer.rgb
    run = run_rl(qtbot, w)
    assert run is not None and "alpha channel" in w.status_label.text()
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    out = np.asarray(run.layer.data)
    np.testing.assert_array_equal(out[..., 3], image[..., 3])  # was: deblurred as a colour
    np.testing.assert_allclose(out, deblur(image, **RL), rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(layer.data, rgba())


def test_deblur_dock_takes_an_rgba_layer_for_an_rgb_network(make_napari_viewer):
    from napari_microdeblur._widgets._jobs import check_request

    _, _, w = open_dock(make_napari_viewer, rgba())
    if "gran.hist_v1" not in w.method_choices():
        pytest.skip("the RGB network gran.hist_v1 is not installed")
    w.set_method("gran.hist_v1")
    req = w.build_request()
    assert req.axes == "YXS" and req.image.shape[-1] == 4
    assert check_request(req) is None  # was: ValueError 'expects 3 channels but layer has 4'


def test_focus_dock_scores_an_rgba_layer_on_its_colours(make_napari_viewer, qtbot, notes):
    # it was refused ('add a copy without the alpha'); `microdeblur focus` drops the alpha, and
    # since 2026-12-07 the dock does too (tests/test_rgb_reading_2026_12_21.py: its note)
    from napari_microdeblur.core.focus import focus_score

    image = rgba()
    _, _, w = open_dock(make_napari_viewer, image, dock="Focus QC")
    assert w.score() is not None
    assert "layer.data[..., :3]" not in w.status_label.text()
    qtbot.waitUntil(lambda: not w._workers and w.scores_fresh(), timeout=TIMEOUT)
    _, axes, tile = w.score_settings()
    assert axes == "YXS"
    # the colours' scores: an alpha averaged in as intensity scored the plane apart
    colours = focus_score(np.ascontiguousarray(image[..., :3]), axes="YXS", tile=tile)
    np.testing.assert_allclose(w.scores, colours, rtol=1e-6)


def test_deblur_dock_says_which_axes_it_assumed_for_a_4d_layer(make_napari_viewer, qtbot):
    _, _, w = open_dock(make_napari_viewer, np.zeros((2, 5, 64, 64), np.float32))
    assert w.axes_edit.text() == "CZYX"
    note = w.image.axes_note
    assert note.isVisibleTo(w)  # was: CZYX, silently
    assert "read as channels" in note.text() and "type TZYX in Axes" in note.text()
    w.axes_edit.setText("TZYX")  # the user's own axes: nothing more to say
    assert not note.isVisibleTo(w) and w.image.axes_assumed == ""
    w.axes_edit.setText("CZYX")
    assert note.isVisibleTo(w)


@pytest.mark.parametrize(("shape", "words"), [
    ((3, 64, 64), "read as Z planes"), ((9, 5, 64, 64), None), ((64, 64), None)])
def test_axes_note_only_where_the_guess_is_in_doubt(make_napari_viewer, shape, words):
    _, _, w = open_dock(make_napari_viewer, np.zeros(shape, np.float32), dock="Focus QC")
    if words is None:
        assert not w.image.axes_note.isVisibleTo(w)
    else:
        assert words in w.image.axes_note.text()


def test_menu_action_says_which_axes_it_assumed(make_napari_viewer, qtbot, notes):
    from napari_microdeblur._widgets._actions import deblur_with_default_model

    viewer = make_napari_viewer()
    layer = viewer.add_image(np.zeros((2, 5, 64, 64), np.float32), name="cells")
    run = deblur_with_default_model(layer, viewer)
    assert run is not None
    run.cancel()
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    assert any("axes CZYX assumed" in m and "TZYX" in m for m in notes())


@pytest.mark.parametrize("scope", ["whole stack", "current slice"])
def test_deblur_dock_refuses_nan_pixels_before_the_run(make_napari_viewer, qtbot, notes,
                                                       scope):
    data = (np.random.default_rng(0).random((3, 64, 64)) * 200).astype(np.float32)
    data[2, 41, 43] = np.nan  # off the normalisation's sample, in a plane the slice skips
    viewer, _, w = open_dock(make_napari_viewer, data)
    w.scope_combo.setCurrentText(scope)
    assert run_rl(qtbot, w) is None  # was: started, then failed in the worker
    assert "contains NaN or Inf pixels" in w.status_label.text()
    assert any("np.nan_to_num" in m for m in notes())
    assert w.run_handle is None and len(viewer.layers) == 1
    assert np.isnan(data[2, 41, 43])  # the user's data as it was


def test_python_deblur_says_what_it_assumed_for_a_short_first_axis():
    """deblur(array) without axes: a (2, Y, X) array is run as two Z planes, as before, and one
    warning says so and how to give channels; with axes given, or a first axis that leaves no
    doubt, nothing is said."""
    x = np.random.default_rng(0).random((2, 48, 48)).astype(np.float32)
    options = {"method": "wiener", "psf": "gaussian:1.2", "balance": 0.01}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        guessed = deblur(x, **options)
    lines = [str(w.message) for w in caught if "assumed" in str(w.message)]
    assert len(lines) == 1 and "ZYX" in lines[0] and "axes='CYX'" in lines[0]
    for given, array in (("ZYX", x), (None, np.concatenate([x] * 4))):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = deblur(array, axes=given, **options)
        assert not [w for w in caught if "assumed" in str(w.message)]
    np.testing.assert_array_equal(guessed, deblur(x, axes="ZYX", **options))
    assert out.shape == (8, 48, 48)


def test_the_dock_forgets_a_run_that_finishes_before_the_dock_could_listen(
        make_napari_viewer, qtbot, monkeypatch):
    """A quick run whose worker finished before the dock owned it stayed in the dock's workers
    for ever (a flaky test_widgets timeout on two busy cores): the dock owns a run first, then
    starts it. Here every run's thread finishes inside start(), the worst case."""
    from qtpy.QtCore import QThreadPool

    from napari_microdeblur._widgets._jobs import DeblurRun

    original = DeblurRun.start

    def start_and_finish(self):
        original(self)
        QThreadPool.globalInstance().waitForDone()  # its `finished` is emitted by now
        return self

    monkeypatch.setattr(DeblurRun, "start", start_and_finish)
    _, _, w = open_dock(make_napari_viewer, rgba()[..., 0])
    run = run_rl(qtbot, w)
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not w._workers, timeout=5_000)
    assert run.layer is not None and not w.busy
