"""Messages of core: finetune() with neither sharp nor psf, Wiener balance 'auto' at the top
of its searched range, and a PSF path given without its TIFF suffix."""

import warnings

import numpy as np
import pytest
import tifffile

import napari_microdeblur
from napari_microdeblur.core import finetune_simple
from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.notes import DeblurWarning
from napari_microdeblur.core.psf import gaussian_psf, parse_psf, read_psf
from napari_microdeblur.core.psf_estimate import GCV_BALANCES, gcv_balance_read


def test_finetune_without_sharp_or_psf_names_both_ways_before_any_work(monkeypatch, tmp_path):
    def no_loading(*args, **kwargs):
        raise AssertionError("the weights were loaded before the call was refused")

    monkeypatch.setattr(finetune_simple, "load_model", no_loading)
    out = tmp_path / "tuned.safetensors"
    with pytest.raises(ValueError) as caught:
        napari_microdeblur.finetune("gran.fluo_v1", np.zeros((64, 64), np.float32), out=out)
    message = str(caught.value)
    assert "sharp=" in message and "psf=" in message
    assert "without a reference" in message and "'gaussian:1.6'" in message
    assert not out.exists()


def _near_empty(seed=0):
    """A 96 px 8-bit crop holding only noise (std about 0.7 on a level of 10), as an empty
    channel of a fluorescence image."""
    rng = np.random.default_rng(seed)
    return np.round(10 + rng.normal(0, 0.7, (96, 96))).astype(np.uint8)


def test_balance_auto_at_the_top_of_its_range_warns():
    image = _near_empty()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        out = deblur(image, method="wiener", psf="gaussian:1.6")
    # the balance stands (it is GCV's reading) but flattens the output
    assert float(out.std()) < 0.5 * float(image.std())
    risks = [str(w.message) for w in seen if issubclass(w.category, DeblurWarning)]
    top = [m for m in risks if f"{GCV_BALANCES[-1]:g}" in m and "largest balance" in m]
    assert len(top) == 1, risks
    assert "little structure" in top[0] and "balance number" in top[0]


def test_balance_auto_below_the_top_gives_no_top_warning():
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:128, :128]
    sharp = 100 * ((np.sin(yy / 3.0) * np.cos(xx / 4.0)) > 0.3) + 20.0
    from scipy import ndimage

    blurred = ndimage.gaussian_filter(sharp, 1.6) + rng.normal(0, 1.0, sharp.shape)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        balance, _, at_floor = gcv_balance_read(blurred, gaussian_psf(1.6))
    assert GCV_BALANCES[0] < balance < GCV_BALANCES[-1] and not at_floor
    assert not [w for w in seen if "largest balance" in str(w.message)]


def _psf_file(path):
    tifffile.imwrite(path, gaussian_psf(1.6).astype(np.float32))


def test_psf_name_without_its_suffix_suggests_the_file(tmp_path, monkeypatch):
    _psf_file(tmp_path / "psf.tif")
    monkeypatch.chdir(tmp_path)
    for call in (lambda: MethodSpec("wiener", psf="psf").check(), lambda: parse_psf("psf")):
        with pytest.raises(ValueError, match=r"did you mean 'psf\.tif'\?"):
            call()
    # a folder given with the name is kept as typed
    with pytest.raises(ValueError) as caught:
        MethodSpec("wiener", psf=str(tmp_path / "psf")).check()
    assert f"did you mean {str(tmp_path / 'psf.tif')!r}?" in str(caught.value)
    # a name typed with '.tif' where Windows saved 'psf.tif.tif'
    _psf_file(tmp_path / "b.tif.tif")
    with pytest.raises(FileNotFoundError, match=r"did you mean 'b\.tif\.tif'\?"):
        read_psf("b.tif")


def test_psf_name_with_two_or_no_candidates_suggests_nothing(tmp_path, monkeypatch):
    _psf_file(tmp_path / "psf.tif")
    _psf_file(tmp_path / "psf.tiff")
    (tmp_path / "other.tif").mkdir()  # a folder is no PSF file
    monkeypatch.chdir(tmp_path)
    for name in ("psf", "other", "missing"):
        with pytest.raises(ValueError) as caught:
            MethodSpec("wiener", psf=name).check()
        assert "no such file was found (looked in" in str(caught.value)
        assert "did you mean" not in str(caught.value)
