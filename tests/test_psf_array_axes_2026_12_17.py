"""A walkthrough of 2026-12-17: a PSF array with slight undershoot runs as its file does (same
cleaned kernel, same note; it was refused after the iterations search), a gray + alpha array
given without axes is told axes='YXS' (it was told 'YXC', which deblurs the alpha), and weights
of another architecture than the method's say which method to give."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

import napari_microdeblur as md
from napari_microdeblur.core import registry
from napari_microdeblur.core.checkpoint import load_model, save_weights
from napari_microdeblur.core.method import MethodSpec, PsfArray
from napari_microdeblur.core.notes import DeblurNote
from napari_microdeblur.core.psf import gaussian_psf, parse_psf
from napari_microdeblur.core.psf_fit import fit_psf_to_image_of

SAMPLE = Path(md.__file__).parent / "samples" / "ht29_nuclei_hoechst.tif"
CLIPPED = "negative values down to -1.6% of the peak set to 0 (15.6% of its light)"


def _undershoot():
    return (gaussian_psf(1.6) - 0.001).astype(np.float32)  # -1.6 % of the peak


def _image():
    return tifffile.imread(SAMPLE)[64:160, 64:160]  # uint8 nuclei


def _run(image, psf, method):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = md.deblur(image, method=method, psf=psf)
    return out, [str(w.message) for w in caught if issubclass(w.category, DeblurNote)]


@pytest.mark.parametrize("method", ["richardson_lucy", "wiener", "auto"])
def test_a_psf_array_with_undershoot_runs_as_its_file(tmp_path, method):
    # was: richardson_lucy and wiener 'psf holds negative, NaN or infinite values' after the
    # iterations search; 'auto' ran without a word of the clip
    psf = _undershoot()
    given = psf.copy()
    path = tmp_path / "psf.tif"
    tifffile.imwrite(path, psf)
    image = _image()
    from_file, file_notes = _run(image, str(path), method)
    from_array, array_notes = _run(image, psf, method)
    assert np.array_equal(from_array, from_file)
    assert np.array_equal(psf, given)  # cleaned on a copy
    assert any(CLIPPED in line for line in file_notes), file_notes
    said = [line for line in array_notes if CLIPPED in line]
    assert len(said) == 1 and said[0].startswith("the PSF array (15, 15): "), array_notes


def test_the_array_is_cleaned_to_the_files_kernel(tmp_path):
    psf = _undershoot()
    path = tmp_path / "psf.tif"
    tifffile.imwrite(path, psf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = fit_psf_to_image_of(MethodSpec("wiener", psf=psf), "YX", (96, 96))
    assert isinstance(fitted.psf, PsfArray)
    assert np.array_equal(fitted.psf.array, parse_psf(str(path)))


def test_a_clean_psf_array_is_left_as_given():
    spec = MethodSpec("wiener", psf=gaussian_psf(1.6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no note
        assert fit_psf_to_image_of(spec, "YX", (96, 96)) is spec


def _gray_alpha():
    gray = np.random.default_rng(0).integers(0, 255, (48, 64), dtype=np.uint8)
    return np.stack([gray, np.full_like(gray, 255)], axis=-1)


def test_a_gray_alpha_array_without_axes_is_told_yxs():
    # was: "give the axes, e.g. axes='YXC'", which deblurs the alpha as a second channel
    image = _gray_alpha()
    with pytest.raises(ValueError) as refused:
        md.deblur(image, method="richardson_lucy", psf="gaussian:1.2", iterations=2)
    line = str(refused.value)
    assert "axes='YXS' (--axes YXS on the command line): read as gray + alpha" in line, line
    assert "YXC for two channels" in line and "\n" not in line
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = md.deblur(image, method="richardson_lucy", psf="gaussian:1.2", iterations=2,
                        axes="YXS")
    assert np.array_equal(out[..., 1], image[..., 1])  # the alpha passed through


def test_other_narrow_guesses_keep_their_hint():
    for shape, hint in [((48, 64, 1), "axes='YXC'"), ((6, 48, 64, 2), "axes='ZYXC'")]:
        with pytest.raises(ValueError, match=hint):
            md.deblur(np.zeros(shape, np.float32), method="wiener", psf="gaussian:1.2")


@pytest.fixture
def gran_file(tmp_path):
    torch.manual_seed(0)
    config = dict(registry.get_arch("gran").tiny_config, in_channels=1, out_channels=1)
    path = tmp_path / "my.safetensors"
    save_weights(registry.build_model("gran", config), path,
                 {"license": "BSD-3-Clause", "training_data": "none (test)"})
    return path


def test_weights_of_another_architecture_say_which_method_to_give(gran_file):
    # was: "the file holds a 'gran' model, not 'gran.em_v1'", and nothing of what to change
    image = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    with pytest.raises(ValueError) as refused:
        md.deblur(image, method="gran.em_v1", weights=str(gran_file), device="cpu")
    line = str(refused.value)
    assert "holds a 'gran' model, not 'gran.em_v1'; give method='gran' or 'auto'" in line, line
    with pytest.raises(ValueError, match="not 'sgpn'; give method='gran' or 'auto'"):
        load_model(gran_file, arch="sgpn")
    for method in ("gran", "auto"):  # the advice runs
        assert md.deblur(image, method=method, weights=str(gran_file), device="cpu").shape == (
            32, 32)
