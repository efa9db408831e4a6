"""Audit of what users see about methods and weights (2026-12-06): ``microdeblur methods``
(and ``--json``), the bundled weights table against each file's model card, and what 'auto'
runs per image type."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from napari_microdeblur.cli import main
from napari_microdeblur.core import bundled
from napari_microdeblur.core.checkpoint import read_card
from napari_microdeblur.core.method import MethodSpec

NUMBER_WORDS = {"five": 5, "six": 6, "seven": 7, "eight": 8}


def _methods_json(capsys) -> list[dict]:
    assert main(["methods", "--json"]) == 0

    def refuse(constant):  # strict JSON: no NaN / Infinity
        raise AssertionError(f"methods --json wrote {constant}")

    return json.loads(capsys.readouterr().out, parse_constant=refuse)


def _sets_named(training_data: str) -> set[str]:
    """The data sets a card's training_data names before its validation part: folder names
    such as ``fluorescence_2d`` that open the text or follow ': ' or ', '."""
    text = training_data.split("Validation:")[0]
    return set(re.findall(r"(?:^|: |, )([a-z][a-z0-9]*(?:_[a-z0-9]+)+)\b", text))


def test_descriptions_count_the_sets_their_cards_name():
    """The v2 blind networks said 'seven microscopy sets' while their cards name six (the
    same six as the PSF-aware network, whose entries say six)."""
    checked = 0
    for name, entry in bundled.BUNDLED_WEIGHTS.items():
        said = re.search(r"\b(five|six|seven|eight) (?:microscopy )?sets", entry.description)
        if said is None or not bundled.is_installed(name):
            continue
        named = _sets_named(read_card(bundled.WEIGHTS_DIR / entry.file).training_data)
        assert NUMBER_WORDS[said.group(1)] == len(named), (name, sorted(named))
        checked += 1
    assert checked >= 7  # four wiener_unet and three c2f_unet entries


def test_weights_without_a_licence_say_why():
    """An entry whose training-data licence is NOASSERTION says which data states none
    (c2f_unet.fluorescence_v2 and brightfield_v2 did not, though trained on EPFL FIB-SEM)."""
    for name, entry in bundled.BUNDLED_WEIGHTS.items():
        if entry.license == "NOASSERTION":
            assert "no licence" in entry.description, name


def test_methods_lists_the_rest_when_a_bundled_file_is_unreadable(tmp_path, monkeypatch,
                                                                  capsys):
    """One truncated or corrupt bundled file (a git-lfs pointer, a cut copy) made
    `microdeblur methods` fail in one line about that file, listing nothing."""
    for entry in bundled.BUNDLED_WEIGHTS.values():
        source = bundled.WEIGHTS_DIR / entry.file
        if source.is_file():
            (tmp_path / entry.file).symlink_to(source)
    broken = bundled.BUNDLED_WEIGHTS["c2f_unet.fluorescence_v2"].file
    (tmp_path / broken).unlink(missing_ok=True)
    (tmp_path / broken).write_text("version https://git-lfs.github.com/spec/v1\nsize 123\n")
    monkeypatch.setattr(bundled, "WEIGHTS_DIR", tmp_path)
    entries = {e["name"]: e for e in _methods_json(capsys)}
    assert set(bundled.BUNDLED_WEIGHTS) <= set(entries)
    assert entries["c2f_unet.fluorescence_v2"]["installed"] is False
    assert "reinstall napari-microdeblur" in entries["c2f_unet.fluorescence_v2"]["description"]
    assert entries["c2f_unet.em_v2"]["installed"] is (bundled.WEIGHTS_DIR / "c2f_unet.em_v2"
                                                      ".safetensors").is_file()
    assert main(["methods"]) == 0
    assert "c2f_unet.fluorescence_v2" in capsys.readouterr().out


def test_methods_json_is_strict_stable_and_agrees_with_the_cards(capsys):
    first = _methods_json(capsys)
    assert first == _methods_json(capsys)  # same order every run
    entries = {e["name"]: e for e in first}
    for name, entry in bundled.BUNDLED_WEIGHTS.items():
        if not bundled.is_installed(name):
            continue
        card = read_card(bundled.WEIGHTS_DIR / entry.file)
        listed = entries[name]
        assert listed["installed"] and listed["arch"] == card.arch
        assert listed["spatial_dims"] == [card.spatial_dims]
        assert listed["needs_psf"] == (card.arch == "wiener_unet")


README_AUTO = {  # README, Bundled default weights: what 'auto' runs (modality, rgb, psf)
    ("em", False, False): "wiener_unet.psf_v4 + PSF estimated from the image",
    ("brightfield", True, False): "wiener_unet.psf_v4 + PSF estimated from the image",
    ("auto", True, False): "wiener_unet.psf_v4 + PSF estimated from the image",
    ("fluorescence", False, False): "c2f_unet.fluorescence_v2",
    ("auto", False, False): "c2f_unet.fluorescence_v2",
    ("em", False, True): "wiener_unet.psf_v4",
    ("fluorescence", False, True): "wiener_unet.psf_v4",
    ("brightfield", True, True): "wiener_unet.psf_v4",
}


@pytest.mark.parametrize("case", sorted(README_AUTO))
def test_auto_runs_what_the_readme_says(case):
    if not all(bundled.is_installed(n) for n in ("wiener_unet.psf_v4", "c2f_unet.em_v2",
                                                 "c2f_unet.fluorescence_v2",
                                                 "c2f_unet.brightfield_v2")):
        pytest.skip("the default weights are not all installed")
    modality, rgb, with_psf = case
    psf = np.full((5, 5), 1 / 25, np.float32) if with_psf else None
    spec = MethodSpec("auto", modality=modality, psf=psf)
    assert bundled.auto_label(spec, rgb) == README_AUTO[case]
    if bundled.auto_psf(spec, rgb):  # the blind network of the image type if no estimate
        assert bundled.auto_blind_fallback(spec, rgb) == bundled.DEFAULTS_BY_MODALITY[
            bundled.image_type(modality, rgb)][0]


def test_a_bundled_name_is_the_bundled_weights_whatever_the_working_folder_holds(
        tmp_path, monkeypatch):
    """A folder `c2f_unet.fluorescence_v2` in the working folder made plain `deblur` (auto)
    fail ('is a folder'); a file `gran.em_v1` made `--method gran.em_v1` fail. A local file of
    a bundled name is given as ./NAME."""
    import numpy as np
    import tifffile

    from napari_microdeblur.cli import main
    from napari_microdeblur.core.checkpoint import ModelCache, load_model

    monkeypatch.chdir(tmp_path)
    (tmp_path / "c2f_unet.fluorescence_v2").mkdir()
    (tmp_path / "gran.em_v1").write_text("not weights")
    tifffile.imwrite(tmp_path / "a.tif",
                     (np.random.default_rng(0).random((64, 64)) * 200).astype(np.uint8))
    assert main(["deblur", "a.tif", "-o", "o1.tif", "-q"]) == 0
    assert main(["deblur", "a.tif", "-o", "o2.tif", "--method", "gran.em_v1", "-q"]) == 0
    assert load_model("gran.em_v1")[1].arch == "gran"
    assert ModelCache().load("gran.em_v1")[1].arch == "gran"
    with pytest.raises(ValueError, match="gran.em_v1"):
        load_model("./gran.em_v1")  # the local file, as a path: not weights
