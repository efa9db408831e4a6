"""'auto' on a short z-stack (benchmarks/psf3d_auto.py --short and --mid): up to 16 planes 3D
Richardson-Lucy beat the network plane by plane for every confocal PSF and most widefield
ones, so there any PSF under half its light in focus goes 3D; deeper stacks keep the 0.2 rule."""

import numpy as np
import pytest

from napari_microdeblur.core import optics
from napari_microdeblur.core.bundled import auto_runs_in_3d
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.psf import in_focus_share


def _normalised(psf):
    psf = np.asarray(psf, dtype=np.float64)
    return psf / psf.sum()


def test_a_widefield_psf_cut_to_a_six_plane_stack_runs_in_3d():
    # one plane deeper than the stack: cut to 5 planes, 0.22 of the light in focus
    psf = _normalised(optics.widefield_psf(1.4, 0.6, 0.1, nz=7, dz=0.3, size=33))
    spec = MethodSpec("auto", psf=psf)
    cut = spec.psf_for_image("ZYX", (6, 96, 96))
    assert cut.shape[0] == 5 and 0.2 < in_focus_share(cut) < 0.25
    assert auto_runs_in_3d(spec, "ZYX", (6, 96, 96))


def test_the_walkthrough_model_on_six_planes_runs_in_3d():
    # the time lapse's DAPI PSF as a model: 5 planes, as it is, 0.205 of the light in focus
    spec = MethodSpec("auto", psf="widefield:na=1.4,wavelength=0.46,pixel=0.1,nz=5,dz=0.3")
    assert auto_runs_in_3d(spec.check(), "ZYX", (6, 128, 128))
    assert auto_runs_in_3d(spec.check(), "CZYX", (2, 6, 128, 128))


def _confocal(nz):
    return _normalised(optics.confocal_psf(1.35, 0.62, 0.1, excitation_wavelength=0.56, nz=nz,
                                           dz=0.3, size=33))


@pytest.mark.parametrize("nz", [5, 7, 21])
def test_a_confocal_psf_on_a_six_plane_stack_runs_in_3d(nz):
    # psf3d_auto.py --short / --mid: 3D Richardson-Lucy beat the network plane by plane in
    # every confocal case on 4-16 planes (cut shares 0.37-0.49)
    spec = MethodSpec("auto", psf=_confocal(nz))
    assert 0.4 < in_focus_share(spec.psf_for_image("ZYX", (6, 96, 96))) < 0.5
    assert auto_runs_in_3d(spec, "ZYX", (6, 96, 96))


def test_a_confocal_psf_goes_3d_up_to_sixteen_planes_only():
    # the full 32-plane nucleus: the confocal PSF lost all 4 cases in 3D
    spec = MethodSpec("auto", psf=_confocal(15))
    assert auto_runs_in_3d(spec, "ZYX", (16, 96, 96))
    assert not auto_runs_in_3d(spec, "ZYX", (17, 96, 96))
    assert not auto_runs_in_3d(MethodSpec("auto", psf=_confocal(21)), "ZYX", (32, 96, 96))
    widefield = _normalised(optics.widefield_psf(1.4, 0.6, 0.1, nz=21, dz=0.3, size=33))
    assert auto_runs_in_3d(MethodSpec("auto", psf=widefield), "ZYX", (32, 96, 96))


def test_a_nearly_2d_psf_on_a_short_stack_stays_plane_by_plane():
    # 60 % in focus: above every PSF measured, so the network keeps it
    psf = np.stack([optics.widefield_psf(1.4, 0.6, 0.1, size=33)] * 3)
    psf[1] *= 3.6
    spec = MethodSpec("auto", psf=_normalised(psf))
    assert in_focus_share(spec.psf_for_image("ZYX", (6, 96, 96))) == pytest.approx(0.64, abs=0.02)
    assert not auto_runs_in_3d(spec, "ZYX", (6, 96, 96))


# ------------------------------------------------------- a PSF model deeper than the stack

DEEP = "widefield:na=1.4,wavelength={w},pixel=0.1,dz=0.3,nz={nz}"
WALKTHROUGH = [DEEP.format(w=w, nz=11) for w in (0.46, 0.52)]  # DAPI, GFP
AT_DEPTH = [DEEP.format(w=w, nz=5) for w in (0.46, 0.52)]
SAID = ("the PSF model's nz=11 is deeper than the 6-plane stack: auto computed it with nz=5 "
        "and deconvolves in 3D")


def test_a_text_model_deeper_than_the_stack_runs_in_3d_computed_at_its_depth():
    # psf3d_auto_mid.json, deep_model: 3D RL with the model at the stack's depth beat the
    # network given the deep model in all 16 rows (+0.12 to +1.21 dB)
    from napari_microdeblur.core.image_settings import spec_before_image
    from napari_microdeblur.core.psf_fit import check_psf_model_fits, runs_in_3d

    spec = MethodSpec("auto", psf=DEEP.format(w=0.52, nz=11)).check()
    assert auto_runs_in_3d(spec, "ZYX", (6, 96, 96))
    assert runs_in_3d(spec, "ZYX", (6, 96, 96))
    settled = spec_before_image(spec, "ZYX", (6, 96, 96))
    assert settled.name == "richardson_lucy" and settled.psf == DEEP.format(w=0.52, nz=5)
    check_psf_model_fits(spec, "ZYX", (6, 96, 96))  # not refused: it runs at nz=5
    assert spec_before_image(spec, "ZYX", (8, 96, 96)).psf == DEEP.format(w=0.52, nz=7)
    # 2 planes hold no 3D model (nz is odd): plane by plane, in-focus plane only
    assert not auto_runs_in_3d(spec, "ZYX", (2, 96, 96))
    check_psf_model_fits(spec, "ZYX", (2, 96, 96))
    # a method chosen by name keeps refusing it with the fix
    with pytest.raises(ValueError, match="give nz=5 or fewer in it"):
        check_psf_model_fits(spec.replace(name="richardson_lucy"), "ZYX", (6, 96, 96))


def _walkthrough_stack(path=None):
    """ZCYX, 6 planes 0.3 um apart, pixels 0.1 um, two channels: spots blurred by the models."""
    from scipy.signal import fftconvolve

    from napari_microdeblur.core.psf import parse_psf

    rng = np.random.default_rng(5)
    channels = []
    for model in WALKTHROUGH:
        sharp = np.zeros((16, 64, 64))
        sharp[tuple(rng.integers(0, (16, 64, 64), (60, 3)).T)] = 4000.0
        blurred = fftconvolve(sharp, parse_psf(model), mode="same")[5:11]
        channels.append(rng.poisson(np.clip(blurred, 0, None) + 100.0))
    return np.stack(channels, axis=1).astype(np.uint16)  # ZCYX


def test_the_walkthrough_deep_models_run_in_3d_under_auto_in_python(recwarn):
    from napari_microdeblur.core.inference import deblur

    stack = _walkthrough_stack()
    got = deblur(stack, method="auto", axes="ZCYX", psf=";".join(WALKTHROUGH), device="cpu")
    lines = [str(w.message) for w in recwarn]
    for channel in (1, 2):  # one line per channel, saying what was done
        said = [line for line in lines if line.startswith(f"channel {channel}: ")]
        assert len(said) == 1 and said[0].startswith(f"channel {channel}: {SAID} with "
                                                      "Richardson-Lucy ("), lines
    recwarn.clear()
    expected = deblur(stack, method="richardson_lucy", axes="ZCYX", psf=";".join(AT_DEPTH),
                      device="cpu")
    np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match=r"^channel 1 of psf: .* give nz=5 or fewer in it"):
        deblur(stack, method="richardson_lucy", axes="ZCYX", psf=";".join(WALKTHROUGH),
               device="cpu")


def test_the_walkthrough_deep_models_run_in_3d_under_auto_in_the_cli(tmp_path, capsys):
    import tifffile

    from napari_microdeblur.cli import main
    from napari_microdeblur.core import io

    source = tmp_path / "zcyx.tif"
    tifffile.imwrite(source, _walkthrough_stack(), imagej=True, resolution=(10, 10),
                     metadata={"axes": "ZCYX", "spacing": 0.3, "unit": "um"})
    run = {m: tmp_path / f"{m}.tif" for m in ("auto", "richardson_lucy")}
    for method, psfs in (("auto", WALKTHROUGH), ("richardson_lucy", AT_DEPTH)):
        code = main(["deblur", str(source), "-o", str(run[method]), "--psf", ";".join(psfs),
                     "--method", method, "--device", "cpu"])
        err = capsys.readouterr().err
        assert code == 0, err
        if method == "auto":
            for channel in (1, 2):
                assert err.count(f"channel {channel}: {SAID} with Richardson-Lucy (") == 1, err
    record = io.read_image(run["auto"]).metadata["microdeblur"]
    assert [c["parameters"]["psf"] for c in record["channels"]] == AT_DEPTH  # as it ran
    assert {c["method"] for c in record["channels"]} == {"richardson_lucy"}
    np.testing.assert_array_equal(np.asarray(io.read_image(run["auto"]).array),
                                  np.asarray(io.read_image(run["richardson_lucy"]).array))
    code = main(["deblur", str(source), "-o", str(tmp_path / "named.tif"), "--psf",
                 ";".join(WALKTHROUGH), "--method", "richardson_lucy", "--device", "cpu"])
    assert code != 0 and "give nz=5 or fewer in it" in capsys.readouterr().err


def test_the_deblur_dock_says_a_deep_model_runs_in_3d(make_napari_viewer, qtbot):
    from napari_microdeblur.core import bundled

    if not bundled.BUNDLED_WEIGHTS:
        pytest.skip("the method line names what 'auto' runs only with bundled weights")
    viewer = make_napari_viewer()
    stack = _walkthrough_stack()[:, 1].astype(np.float32)
    layer = viewer.add_image(stack, name="gfp", scale=(0.3, 0.1, 0.1))
    _, w = viewer.window.add_plugin_dock_widget("napari-microdeblur", "Deblur")
    w.layer_combo.set_value(layer)
    w.scope_combo.setCurrentText("whole stack")
    w.use_psf_check.setChecked(True)
    w.psf_edit.setText(WALKTHROUGH[1])
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=60_000)
    assert w.psf_preview.error is None
    assert w.method.auto_label.text().startswith("\u2192 richardson_lucy in 3D")


def test_the_deblur_dock_judges_a_psf_per_channel_channel_by_channel(make_napari_viewer, qtbot):
    """'A;B' (a PSF per channel) on a CZYX layer: each channel runs on its own and goes 3D,
    so the method line says so (judged as one PSF, 'A;B' said the network)."""
    from napari_microdeblur.core import bundled

    if not bundled.BUNDLED_WEIGHTS:
        pytest.skip("the method line names what 'auto' runs only with bundled weights")
    viewer = make_napari_viewer()
    czyx = np.moveaxis(_walkthrough_stack(), 1, 0).astype(np.float32)
    layer = viewer.add_image(czyx, name="cells", scale=(1, 0.3, 0.1, 0.1))
    _, w = viewer.window.add_plugin_dock_widget("napari-microdeblur", "Deblur")
    w.layer_combo.set_value(layer)
    w.axes_edit.setText("CZYX")
    w.scope_combo.setCurrentText("whole stack")
    w.use_psf_check.setChecked(True)
    w.psf_edit.setText(";".join(AT_DEPTH))
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=60_000)
    assert w.psf_preview.error is None, w.psf_preview.error
    assert w.method.auto_label.text().startswith("\u2192 richardson_lucy in 3D")
