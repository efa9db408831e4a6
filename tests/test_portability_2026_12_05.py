"""Windows and macOS portability: PSF sources given as paths, paths in messages, printing on a
console whose code page cannot show every character."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
import tifffile

from napari_microdeblur import cli
from napari_microdeblur.cli_words import in_cli_words
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.psf import PSF_MODELS, gaussian_psf, parse_psf


def _write_psf(path, sigma=1.5):
    path.parent.mkdir(parents=True, exist_ok=True)
    kernel = gaussian_psf(sigma)
    tifffile.imwrite(path, kernel)
    return kernel


@pytest.mark.parametrize("name", ["gaussian:v2.tif", "widefield:2024-05.tif"])
def test_file_named_like_a_model_is_read_as_that_file(tmp_path, monkeypatch, name):
    # macOS/Linux allow ':' in names; a relative 'gaussian:v2.tif' was refused as a bad model
    monkeypatch.chdir(tmp_path)
    kernel = _write_psf(tmp_path / name)
    np.testing.assert_allclose(parse_psf(name), kernel, atol=1e-7)
    spec = MethodSpec("wiener", psf=name).check()
    np.testing.assert_allclose(spec.psf_kernel(), kernel, atol=1e-7)


def test_a_model_with_bad_values_is_still_refused_when_no_such_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="not understood"):
        parse_psf("gaussian:v2.tif")


def test_existing_psf_file_without_tif_suffix_is_read(tmp_path, monkeypatch):
    # Windows hides extensions; MethodSpec.check accepted the file, then parse_psf refused it
    monkeypatch.chdir(tmp_path)
    kernel = _write_psf(tmp_path / "psf_widefield")
    spec = MethodSpec("richardson_lucy", psf="psf_widefield").check()
    np.testing.assert_allclose(spec.psf_kernel(), kernel, atol=1e-7)


@pytest.mark.parametrize("text", ["C:/data/psf.tif", "C:\\data\\psf.tif",
                                  "\\\\server\\share\\psf.tif", "gaussian.tif", "psf:v2.tif"])
def test_windows_and_colon_paths_are_files_not_models(tmp_path, monkeypatch, text):
    # on Linux a backslash is a character of a name: the same text names a file here
    monkeypatch.chdir(tmp_path)
    kernel = _write_psf(tmp_path / text)
    np.testing.assert_allclose(parse_psf(text), kernel, atol=1e-7)


def test_missing_windows_paths_are_named_with_single_backslashes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as missing:
        parse_psf("C:\\nope\\psf.tif")
    assert "'C:\\nope\\psf.tif'" in str(missing.value)
    with pytest.raises(ValueError) as unknown:
        MethodSpec("wiener", psf="\\\\server\\share\\psf").check()
    assert "'\\\\server\\share\\psf'" in str(unknown.value)
    assert "\\\\\\\\server" not in str(unknown.value)


@pytest.mark.parametrize("check", [parse_psf, lambda s: MethodSpec("wiener", psf=s).check()])
def test_unknown_model_name_names_the_models_and_the_missing_file(tmp_path, monkeypatch, check):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as error:
        check("gauss:1.6")
    message = str(error.value)
    assert "\n" not in message and "no such file" in message
    assert all(f"'{model}:" in message for model in PSF_MODELS)
    assert in_cli_words(message, {"psf": "--psf"}).startswith("--psf 'gauss:1.6'")


def test_cli_prints_a_non_ascii_path_on_a_legacy_code_page(tmp_path, monkeypatch):
    # a Windows console or redirect in cp437/cp1252 cannot encode these; the run must not fail
    image = tmp_path / "细胞 × 2 — µ.tif"
    rng = np.random.default_rng(0)
    tifffile.imwrite(image, rng.random((32, 32), dtype=np.float32))
    raw = io.BytesIO()
    console = io.TextIOWrapper(raw, encoding="cp437", errors="strict", write_through=True)
    monkeypatch.setattr(sys, "stdout", console)
    assert cli.main(["focus", str(image)]) == 0
    assert b"focus score" in raw.getvalue()
    assert console.errors == "strict"  # restored for the caller


def test_a_zarr_path_with_a_trailing_backslash_is_zarr():
    # Windows tab completion ends a folder with a backslash: 'vol.zarr\' was not taken as Zarr
    from napari_microdeblur.core.io import is_zarr

    assert is_zarr("C:\\data\\vol.zarr\\") and is_zarr("vol.ome.zarr/")
    assert not is_zarr("C:\\data\\vol.tif")
