"""Paths in error messages as a Windows user typed them: single backslashes, not the doubled
ones repr() writes. On Linux a backslash is a character of a file name, so the same text
names a real file here where one is needed."""

from __future__ import annotations

import pytest

from napari_microdeblur.cli import UserError
from napari_microdeblur.cli_training import _check_weights_output
from napari_microdeblur.core import io, io_write
from napari_microdeblur.core.checkpoint import load_model
from napari_microdeblur.core.files import find_inputs
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.shown import shown_path

WIN_IN = "C:\\data\\in.tif"
WIN_WEIGHTS = "C:\\models\\net.safetensors"


def _single(message: str, text: str) -> None:
    assert f"'{text}'" in message, message
    assert "\\\\" not in message, message  # no doubled backslash anywhere


def test_shown_path_keeps_single_backslashes_and_repr_elsewhere():
    assert shown_path(WIN_IN) == "'C:\\data\\in.tif'"
    assert shown_path("/data/in.tif") == repr("/data/in.tif")  # POSIX messages unchanged
    # a quote or an unprintable character would make plain quoting ambiguous: repr stays
    assert shown_path("C:\\it's.tif") == repr("C:\\it's.tif")
    assert shown_path("C:\\a\tb.tif") == repr("C:\\a\tb.tif")


def test_psf_module_still_gives_shown_path():
    from napari_microdeblur.core import psf

    assert psf.shown_path is shown_path


def test_existing_output_is_refused_with_single_backslashes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = "C:\\data\\out.tif"
    (tmp_path / name).write_bytes(b"")
    with pytest.raises(FileExistsError) as error:
        io_write.check_output_path(name)
    _single(str(error.value), name)


def test_missing_input_is_named_with_single_backslashes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as read:
        io.read_image(WIN_IN)
    _single(str(read.value), WIN_IN)
    with pytest.raises(FileNotFoundError) as found:
        find_inputs(WIN_IN)
    _single(str(found.value), WIN_IN)


def test_missing_weights_are_named_with_single_backslashes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as loading:
        load_model(WIN_WEIGHTS)
    _single(str(loading.value), WIN_WEIGHTS)
    with pytest.raises(ValueError) as checking:
        MethodSpec("auto", weights=WIN_WEIGHTS).check()
    _single(str(checking.value), WIN_WEIGHTS)


def test_training_output_messages_use_single_backslashes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = "C:\\runs\\net.safetensors"
    (tmp_path / name).write_bytes(b"")
    with pytest.raises(UserError) as error:
        _check_weights_output(name, overwrite=False)
    _single(str(error.value), name)
