"""The image type (modality) picks the blind default: core.bundled.DEFAULTS_BY_MODALITY (the
blind networks), ESTIMATED_PSF_MODALITIES (the image types that run the PSF-aware network with a
PSF estimated from the image instead), method.auto_method_name / auto_psf, the Python API and
`microdeblur deblur/watch --modality`.

Every test installs its own bundled table of tiny random networks, so the answers do not
depend on which weights the package ships.
"""

import numpy as np
import pytest
import tifffile
import torch

from napari_microdeblur.cli import build_parser, main
from napari_microdeblur.core import bundled, registry
from napari_microdeblur.core.bundled import auto_label, auto_method_name, auto_psf
from napari_microdeblur.core.checkpoint import save_weights, sha256_file
from napari_microdeblur.core.inference import iter_deblur
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.progress import drive
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE

V1 = ("gran.em_v1", "gran.fluo_v1", "gran.hist_v1")
V2 = ("c2f_unet.em_v2", "c2f_unet.fluorescence_v2", "c2f_unet.brightfield_v2")


def tiny_weights(name: str, folder) -> bundled.BundledWeights:
    """A tiny random network saved as the bundled ``name`` (RGB for the histology v1 name)."""
    arch = bundled.split_name(name)[0]
    channels = 3 if name == "gran.hist_v1" else 1
    torch.manual_seed(0)
    config = dict(registry.get_arch(arch).tiny_config, in_channels=channels,
                  out_channels=channels)
    model = registry.build_model(arch, config)
    path = folder / f"{name}.safetensors"
    save_weights(model, path, {"license": "BSD-3-Clause", "training_data": "none (test)"})
    return bundled.BundledWeights(file=path.name, sha256=sha256_file(path),
                                  license="BSD-3-Clause", description=f"tiny {name}")


@pytest.fixture
def install(monkeypatch, tmp_path):
    """install(*names): a bundled table holding exactly these tiny networks."""
    monkeypatch.setattr(bundled, "WEIGHTS_DIR", tmp_path)

    def _install(*names):
        table = {name: tiny_weights(name, tmp_path) for name in names}
        monkeypatch.setattr(bundled, "BUNDLED_WEIGHTS", table)
        return table

    return _install


def picked(modality: str, rgb: bool, **spec) -> str:
    return auto_method_name(MethodSpec(modality=modality, **spec), rgb=rgb)


def test_the_table_names_a_v2_then_a_v1_default_for_every_image_type():
    assert set(bundled.DEFAULTS_BY_MODALITY) == {"em", "fluorescence", "brightfield"}
    for names in bundled.DEFAULTS_BY_MODALITY.values():
        assert names[0].startswith("c2f_unet.") and names[0].endswith("_v2")
        assert names[-1] in V1


def test_v1_defaults_by_image_type(install):
    install(*V1)
    assert picked("auto", rgb=False) == "gran.fluo_v1"  # grayscale -> fluorescence
    assert picked("auto", rgb=True) == "gran.hist_v1"  # RGB -> brightfield
    assert picked("em", rgb=False) == "gran.em_v1"
    assert picked("em", rgb=True) == "gran.em_v1"  # grayscale network, channel by channel
    assert picked("fluorescence", rgb=True) == "gran.fluo_v1"
    assert picked("brightfield", rgb=True) == "gran.hist_v1"
    assert bundled.default_weights_name(rgb=False) == "gran.fluo_v1"
    assert bundled.default_weights_name(rgb=True) == "gran.hist_v1"
    # other names and a weights file are not 'auto'
    assert picked("em", rgb=False, name="wiener", psf="disk:3") == "wiener"
    assert picked("em", rgb=False, weights="w.safetensors") == "auto"


def test_registered_v2_weights_win_and_v1_stays_loadable(install, fluo_u8):
    install(*V1, *V2)
    assert picked("auto", rgb=False) == "c2f_unet.fluorescence_v2"
    assert picked("auto", rgb=True) == "c2f_unet.brightfield_v2"
    assert picked("em", rgb=False) == "c2f_unet.em_v2"
    # the v2 brightfield network is grayscale: it takes a grayscale brightfield image too
    assert picked("brightfield", rgb=False) == "c2f_unet.brightfield_v2"
    assert bundled.default_weights_name(rgb=False) == "c2f_unet.fluorescence_v2"
    result = drive(iter_deblur(fluo_u8, method="gran.em_v1", device="cpu", tile=64))
    assert result.method == "gran.em_v1"


def test_a_v2_name_registered_without_its_file_falls_back_to_v1(install, tmp_path):
    table = install(*V1, "c2f_unet.em_v2")
    (tmp_path / table["c2f_unet.em_v2"].file).unlink()
    assert not bundled.is_installed("c2f_unet.em_v2") and bundled.is_installed("gran.em_v1")
    assert picked("em", rgb=False) == "gran.em_v1"


def test_brightfield_on_a_grayscale_image_with_only_v1_is_one_clear_error(install, fluo_u8):
    install(*V1)
    with pytest.raises(ValueError, match=r"modality='brightfield' on a grayscale image: .*"
                       r"gran\.hist_v1.*RGB images only; choose modality 'fluorescence'"):
        picked("brightfield", rgb=False)
    before = fluo_u8.copy()
    with pytest.raises(ValueError, match="RGB images only"):  # before any work
        iter_deblur(fluo_u8, method="auto", modality="brightfield", device="cpu")
    np.testing.assert_array_equal(fluo_u8, before)


def test_an_image_type_without_installed_weights_says_what_to_choose(install):
    install("gran.fluo_v1")
    with pytest.raises(ValueError, match=r"modality='em': none of its bundled weights "
                       r"\(c2f_unet\.em_v2, gran\.em_v1\) is installed; choose"):
        picked("em", rgb=False)
    assert bundled.default_weights_name(rgb=True) is None  # no brightfield weights
    install()
    with pytest.raises(ValueError, match="needs bundled weights"):
        picked("auto", rgb=False)
    assert bundled.default_weights_name(rgb=False) is None
    with pytest.raises(ValueError, match="modality='xray' is not one of"):
        MethodSpec(modality="xray").check()


def test_a_psf_picks_the_psf_aware_network_whatever_the_image_type(install):
    from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE

    install(*V1, DEFAULT_PSF_AWARE)
    for modality in ("auto", "em", "brightfield"):
        assert picked(modality, rgb=False, psf="gaussian:1.6") == DEFAULT_PSF_AWARE


def test_em_and_brightfield_estimate_the_psf_when_the_psf_aware_network_is_installed(install):
    install(*V2, DEFAULT_PSF_AWARE)
    assert bundled.ESTIMATED_PSF_MODALITIES == ("em", "brightfield")
    for modality, rgb in (("em", False), ("em", True), ("brightfield", False),
                          ("brightfield", True), ("auto", True)):
        assert picked(modality, rgb) == DEFAULT_PSF_AWARE
        assert auto_psf(MethodSpec(modality=modality), rgb) == "estimate"
        assert auto_label(MethodSpec(modality=modality), rgb) == (
            f"{DEFAULT_PSF_AWARE} + PSF estimated from the image")
    # fluorescence (and a grayscale image of unstated type) keeps its blind network
    for modality in ("auto", "fluorescence"):
        assert picked(modality, rgb=False) == "c2f_unet.fluorescence_v2"
        assert auto_psf(MethodSpec(modality=modality), False) is None
    # a PSF, a weights file or a named method is used as given: nothing is estimated
    for spec in (MethodSpec(modality="em", psf="gaussian:1.6"),
                 MethodSpec(modality="em", weights="w.safetensors"),
                 MethodSpec("c2f_unet.em_v2", modality="em"),
                 MethodSpec("wiener", psf="disk:3", modality="em")):
        assert auto_psf(spec, False) is None
    # without the PSF-aware network the blind network runs
    install(*V2)
    assert picked("em", rgb=False) == "c2f_unet.em_v2"
    assert auto_psf(MethodSpec(modality="em"), False) is None


def test_em_deblur_runs_the_psf_aware_network_on_the_psf_estimated_from_the_image(install,
                                                                                 fluo_u8):
    from scipy import ndimage

    from napari_microdeblur.core.inference import deblur
    from napari_microdeblur.core.psf_estimate import estimate_psf

    install(*V2, DEFAULT_PSF_AWARE)
    blurred = ndimage.gaussian_filter(fluo_u8[:96, :96].astype(np.float32), 1.5)
    before = blurred.copy()
    with pytest.warns(UserWarning, match="PSF estimated from the image") as record:
        result = drive(iter_deblur(blurred, method="auto", modality="em", device="cpu"))
    assert result.method == DEFAULT_PSF_AWARE
    assert sum("PSF estimated from the image" in str(w.message) for w in record) == 1
    expected = deblur(blurred, method=DEFAULT_PSF_AWARE, psf=estimate_psf(blurred).kernel,
                      device="cpu")
    np.testing.assert_allclose(result.image, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(blurred, before)
    # resolving the spec alone has no image to estimate from: one line says what to do
    with pytest.raises(ValueError, match=r"with a PSF estimated from the image for em images: "
                       r"deblur\(\) and prepare_deblur\(\) estimate it"):
        MethodSpec(modality="em").resolve()


def test_an_image_without_an_estimate_runs_the_blind_network_and_says_so(install, fluo_u8):
    install(*V2, DEFAULT_PSF_AWARE)
    small = fluo_u8[:24, :24]  # under the 32 px the estimate needs
    with pytest.warns(UserWarning, match=r"no PSF could be estimated from this image \(.*too "
                      r"small.*\); ran the blind network c2f_unet\.em_v2 instead"):
        result = drive(iter_deblur(small, method="auto", modality="em", device="cpu"))
    assert result.method == "c2f_unet.em_v2" and result.image.shape == small.shape
    # asked for by name, the estimate's refusal stands
    with pytest.raises(ValueError, match="too small"):
        iter_deblur(small, method="auto", modality="em", psf="estimate", device="cpu")


def test_python_api_takes_the_modality(install, fluo_u8):
    install(*V1)
    result = drive(iter_deblur(fluo_u8, method="auto", modality="em", device="cpu", tile=64))
    assert result.method == "gran.em_v1"
    result = drive(iter_deblur(fluo_u8, method="auto", device="cpu", tile=64))
    assert result.method == "gran.fluo_v1"


def test_cli_modality_em_picks_the_em_default(install, tmp_path, fluo_u8, capsys):
    install(*V1)
    source = tmp_path / "gray.tif"
    tifffile.imwrite(source, fluo_u8)
    for extra, expected in ((["--modality", "em"], "gran.em_v1"), ([], "gran.fluo_v1")):
        out = tmp_path / f"out_{expected}.tif"
        assert main(["deblur", str(source), "-o", str(out), "--device", "cpu", "--tile", "64",
                     *extra]) == 0
        reported = capsys.readouterr().out
        assert f"{out}: {expected} on YX" in reported
        assert tifffile.imread(out).shape == fluo_u8.shape


def test_cli_modality_em_estimates_the_psf_and_says_so(install, tmp_path, fluo_u8, capsys):
    install(*V2, DEFAULT_PSF_AWARE)
    source = tmp_path / "gray.tif"
    tifffile.imwrite(source, fluo_u8[:96, :96])
    out = tmp_path / "out.tif"
    assert main(["deblur", str(source), "-o", str(out), "--device", "cpu",
                 "--modality", "em"]) == 0
    captured = capsys.readouterr()
    assert f"{out}: {DEFAULT_PSF_AWARE} on YX" in captured.out
    assert "PSF estimated from the image" in captured.out + captured.err
    assert tifffile.imread(out).shape == (96, 96)


def test_cli_modality_is_checked_and_shared_by_the_deblurring_commands(install, tmp_path,
                                                                       fluo_u8, capsys):
    install(*V1)
    parser = build_parser()
    assert parser.parse_args(["watch", "in", "out", "--modality", "em"]).modality == "em"
    assert parser.parse_args(["deblur", "x.tif", "-o", "y.tif"]).modality == "auto"
    with pytest.raises(SystemExit) as exit_info:
        main(["deblur", "x.tif", "-o", "y.tif", "--modality", "xray"])
    assert exit_info.value.code == 2
    assert "--modality" in capsys.readouterr().err
    source = tmp_path / "gray.tif"
    tifffile.imwrite(source, fluo_u8)
    out = tmp_path / "never.tif"
    assert main(["deblur", str(source), "-o", str(out), "--modality", "brightfield",
                 "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "RGB images only" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
