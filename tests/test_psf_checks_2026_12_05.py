"""Checks before a run: a 3D PSF file or array on an image without Z for a classical method
(core.psf_fit), an optics PSF stack without dz (core.optics), a folder named *.safetensors
(core.checkpoint), fine-tuning options refused before the pairs are built (core.finetune),
and NaN pixels off the normalisation's sample refused with no output left (core.inference)."""

import re

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import psf_fit
from napari_microdeblur.core.inference import _stats_sample, deblur
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.psf import gaussian_psf

# ----------------------------------------------------------------------------- a 3D PSF, no Z

MODEL_WORDS = "is a 3D model .* but the image has no Z axis \\(axes YX\\)"
DATA_WORDS = (r"the PSF{} is 3D \(7 x 13 x 13 px\) but the image has no Z axis \(axes {}\); "
              r"choose a 2D PSF or a z-stack")


def _stack() -> np.ndarray:
    return np.stack([gaussian_psf(1.0 + 0.3 * abs(z - 3), size=13) for z in range(7)])


@pytest.fixture
def psf_file(tmp_path):
    path = tmp_path / "psf3d.tif"
    tifffile.imwrite(path, _stack()[:, None])  # a singleton axis, dropped as read_psf drops it
    return str(path)


@pytest.mark.parametrize("method", ["richardson_lucy", "wiener"])
def test_a_3d_psf_file_or_array_is_refused_before_the_run_like_a_3d_model(psf_file, method,
                                                                         monkeypatch):
    image = np.random.default_rng(0).random((64, 64), dtype=np.float32)
    for psf, name in [(psf_file, re.escape(f" '{psf_file}'")), (_stack(), "")]:
        given = {"iterations": 5} if method == "richardson_lucy" else {"balance": 0.01}
        spec = MethodSpec(method, psf=psf, **given).check()  # what that method reads
        with pytest.raises(ValueError, match=DATA_WORDS.format(name, "YX")):
            psf_fit.check_psf_model_fits(spec, "YX", image.shape)
        with pytest.raises(ValueError, match=DATA_WORDS.format(name, "YX")):  # and the API, with
            deblur(image, method=method, psf=psf, device="cpu")  # 'auto' iterations / balance
    model = "widefield:na=1.4,wavelength=0.52,pixel=0.065,nz=5,dz=0.2"
    pytest.importorskip("psfmodels")
    with pytest.raises(ValueError, match=MODEL_WORDS):  # the model's words, for comparison
        psf_fit.check_psf_model_fits(MethodSpec(method, psf=model), "YX", image.shape)


def test_the_file_check_reads_the_header_only_and_refuses_nothing_that_fits(psf_file,
                                                                          monkeypatch):
    from napari_microdeblur.core import psf

    def no_read(*args):
        raise AssertionError("read the PSF's pixels")

    monkeypatch.setattr(psf, "read_psf", no_read)
    with pytest.raises(ValueError, match=DATA_WORDS.format(re.escape(f" '{psf_file}'"), "CYX")):
        psf_fit.check_psf_model_fits(MethodSpec("wiener", psf=psf_file), "CYX", (2, 64, 64))
    stack = _stack()
    for spec, axes, shape in [
        (MethodSpec("wiener", psf=psf_file), "ZYX", (9, 64, 64)),  # a z-stack
        (MethodSpec("wiener", psf=stack[3]), "YX", (64, 64)),  # a 2D array
        (MethodSpec("auto", psf=stack), "YX", (64, 64)),  # a network: its in-focus plane
        (MethodSpec("wiener", psf=str(psf_file) + ".missing.tif"), "YX", (64, 64)),  # read later
    ]:
        psf_fit.check_psf_model_fits(spec, axes, shape)


def test_the_cli_refuses_a_3d_psf_file_on_a_2d_image_in_the_same_words(tmp_path, psf_file,
                                                                       capsys):
    source = tmp_path / "img.tif"
    tifffile.imwrite(source, np.random.default_rng(1).random((64, 64), dtype=np.float32))
    out = tmp_path / "out"
    out.mkdir()
    code = main(["deblur", str(source), "-o", str(out), "--method", "wiener", "--psf",
                 psf_file, "--balance", "0.01", "--axes", "YX"])
    err = capsys.readouterr().err.strip().splitlines()
    # the error, where the failure is listed, and a folder batch's closing line
    assert code != 0 and len(err) == 3 and err[-1].endswith("0 done, 0 skipped (output "
                                                            "exists), 1 failed")
    assert "is 3D (7 x 13 x 13 px) but the image has no Z axis (axes YX)" in err[0]
    assert not any(out.iterdir())


# ----------------------------------------------------------------------------- optics: no dz


def test_an_optics_stack_without_dz_says_which_key_to_add():
    pytest.importorskip("psfmodels")
    from napari_microdeblur.core.psf import parse_psf

    with pytest.raises(ValueError, match=r"^nz=31 needs dz=\.\.\. \(the Z step in um"):
        parse_psf("widefield:na=1.4,wavelength=0.52,pixel=0.065,nz=31")


# ----------------------------------------------------------------------------- weights


def test_a_folder_named_safetensors_is_called_a_folder(tmp_path):
    from napari_microdeblur.core.checkpoint import list_user_weights, read_card

    folder = tmp_path / "mine.safetensors"
    folder.mkdir()
    with pytest.raises(ValueError, match="mine.safetensors: is a folder, not a .safetensors"):
        read_card(folder)
    with pytest.warns(UserWarning, match="is a folder"):
        assert list_user_weights(tmp_path) == []


# ----------------------------------------------------------------------------- fine-tuning


@pytest.mark.parametrize("option, words", [
    (dict(min_gain_db=-0.5), "min_gain_db"),
    (dict(seed=2**64), r"seed=18446744073709551616; accepted: an integer from 0 to 2\*\*63 - 1"),
    (dict(seed=2**63), "seed=9223372036854775808; accepted"),
    (dict(seed=-1), "seed=-1; accepted"),
])
def test_finetune_options_are_refused_before_the_pairs_are_built(tmp_path, monkeypatch,
                                                                 option, words):
    from napari_microdeblur.core import finetune, registry
    from napari_microdeblur.core.progress import drive

    def no_pairs(*args):
        raise AssertionError("built the pairs before checking the options")

    monkeypatch.setattr(finetune, "_field_pairs", no_pairs)
    model = registry.build_model("gran", registry.get_arch("gran").tiny_config, seed=0)
    x = np.random.default_rng(0).random((96, 96), dtype=np.float32)
    req = finetune.FinetuneRequest(mode="pair", layer_name="pair", axes="YX", model=model,
                                   base_label="tiny", base_card=None, blurry=x, sharp=x,
                                   steps=3, patch=32, batch_size=2, device="cpu",
                                   checkpoint_dir=str(tmp_path / "ck"), **option)
    with pytest.raises(ValueError, match=words):
        drive(finetune.iter_finetune(req))


# ----------------------------------------------------------------------------- NaN pixels


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_bad_pixel_off_the_normalisation_sample_is_refused_with_nothing_written(
        tmp_path, capsys, bad):
    """Over STATS_MAX_ELEMENTS pixels the normalisation reads a strided sample: a NaN
    between its pixels is refused as its tile is read (every tile is checked), before the
    network sees it; the CLI leaves no output file."""
    image = np.random.default_rng(2).random((2100, 2100), dtype=np.float32)
    image[1999, 3] = bad
    assert np.all(np.isfinite(_stats_sample(image, "YX")))  # the sample misses it
    words = "image holds 1 NaN or Inf pixel "
    for tile in (None, 256):  # one tile, or the last rows' tiles after many clean ones
        with pytest.raises(ValueError, match=words):
            deblur(image, method="wiener", psf="gaussian:1.0", balance=0.01, tile=tile,
                   axes="YX", device="cpu")
    source, out = tmp_path / "big.tif", tmp_path / "out"
    out.mkdir()
    tifffile.imwrite(source, image)
    code = main(["deblur", str(source), "-o", str(out), "--method", "wiener", "--psf",
                 "gaussian:1.0", "--balance", "0.01", "--tile", "256", "--axes", "YX"])
    assert code != 0 and words in capsys.readouterr().err
    assert not any(out.iterdir())
