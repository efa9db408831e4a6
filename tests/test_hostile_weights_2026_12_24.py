"""Hostile or damaged weights files (a walkthrough, 2026-12-24): a model card anyone can edit
sized the network built from it (a billion features: a 36 GB allocation after a failed meta
build; a million blocks: 35 min), steered the run (a million-pixel halo blamed on --tile,
NaN percentiles in numpy's words), nested its JSON past Python's stack (a 40-line
RecursionError), packed 3 GiB into a 14 MB zoo zip (8.4 GB read into memory), and printed
terminal escapes through `microdeblur info`. Each is now one line naming the file and the
field, said before anything is built, read or written."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tifffile
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from napari_microdeblur.cli import main
from napari_microdeblur.core import registry
from napari_microdeblur.core.checkpoint import CARD_KEY, load_model, read_card, save_weights
from napari_microdeblur.core.export import read_bioimageio_card, read_bioimageio_zip


def _weights(tmp_path: Path, arch: str = "gran", **card) -> Path:
    """Tiny weights of ``arch`` with a model card, as save_weights writes them."""
    path = tmp_path / f"{arch}.safetensors"
    save_weights(registry.build_model(arch, registry.preset_config(arch, "tiny"), seed=0),
                 path, card)
    return path


def _edited(source: Path, name: str, edit) -> Path:
    """``source`` with its card replaced by ``edit(card dict)`` (a str: the raw card text),
    its tensors unchanged, as mkw.py of the walkthrough made them."""
    with safe_open(str(source), "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    card = edit(json.loads(meta[CARD_KEY]))
    meta = {k: v for k, v in meta.items() if "sha" not in k}
    meta[CARD_KEY] = card if isinstance(card, str) else json.dumps(card)
    path = source.with_name(name)
    save_file(tensors, str(path), metadata=meta)
    return path


def _config(**changes):
    return lambda card: {**card, "config": {**card["config"], **changes}}


def _one_line(error: BaseException, path: Path, *words: str) -> str:
    text = str(error)
    assert "\n" not in text and str(path) in text, text
    for word in words:
        assert word in text, text
    return text


@pytest.fixture
def no_build(monkeypatch):
    """Call it once the files are made: from then on any network built (on the meta device
    or for real) fails the test, for the card is to be refused first."""
    def build(*args, **kwargs):
        pytest.fail(f"a network was built from the card: {args}")

    return lambda: monkeypatch.setattr(registry, "build_model", build)


# ------------------------------------------------------------------ 1: the config's size


@pytest.mark.parametrize(("arch", "field", "value"), [
    ("gran", "n_feats", 10**9),  # overflowed the meta build, then a real 36 GB one
    ("gran", "n_resblocks", 10**6),  # 35 min and 10 GB on the meta device
    ("gran", "in_channels", 10**9),
    ("psf_cyclegan", "base_channels", 10**9),
    ("psf_cyclegan", "depth", 10**5),
    ("sgpn", "encoder_blocks", 10**6),
    ("c2f_unet", "base_channels", 10**9),
    ("wiener_unet", "base_channels", 10**9),
])
def test_a_card_config_out_of_bounds_is_refused_naming_the_field_before_any_build(
        tmp_path, arch, field, value, no_build):
    path = _edited(_weights(tmp_path, arch), "edited.safetensors", _config(**{field: value}))
    no_build()
    with pytest.raises(ValueError) as caught:
        load_model(path)
    _one_line(caught.value, path, field)


def test_a_3d_psf_kernel_of_801_px_is_refused_before_numpy_computes_it(tmp_path, no_build):
    """The PSF layer computes its start in numpy even on the meta device: 10 GB."""
    path = _edited(_weights(tmp_path, "psf_cyclegan"), "psf3d.safetensors",
                   _config(spatial_dims=3, psf_size=801))
    no_build()
    with pytest.raises(ValueError) as caught:
        load_model(path)
    _one_line(caught.value, path, "psf_size")
    # within the 2D bound, still too large a cube
    with pytest.raises(ValueError, match=r"psf_size.*127"):
        registry.validate_config("psf_cyclegan", {"spatial_dims": 3, "psf_size": 201})


def test_a_card_config_that_cannot_build_on_meta_is_never_built_for_real(tmp_path, monkeypatch):
    """A failed meta build fell back to a real one: the card's size was never checked."""
    path = _weights(tmp_path)
    real_builds = []
    real = registry.build_model

    def build(*args, **kwargs):
        if str(torch.get_default_device()) == "meta":
            raise RuntimeError("Storage size calculation overflowed")
        real_builds.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(registry, "build_model", build)
    with pytest.raises(ValueError) as caught:
        load_model(path)
    _one_line(caught.value, path, "model card", "overflowed")
    assert real_builds == []


def test_the_bounds_keep_every_bundled_card_preset_and_paper_config():
    from napari_microdeblur.core.bundled import BUNDLED_WEIGHTS, bundled_path

    checked = 0  # validate_config raises for a config out of bounds: each one must pass
    for name in BUNDLED_WEIGHTS:
        card = read_card(bundled_path(name))
        registry.validate_config(card.arch, card.config)
        checked += 1
    for arch in registry.list_archs():
        for preset in registry.list_presets(arch):
            registry.validate_config(arch, registry.preset_config(arch, preset))
            checked += 1
    assert checked > len(BUNDLED_WEIGHTS)  # every bundled card and at least one preset


# ------------------------------------------------------------------ 2: fields that steer a run


@pytest.mark.parametrize(("change", "words"), [
    ({"tiling": {"halo": 1_000_000, "tile": 64}}, ("tiling", "halo")),
    ({"tiling": {"halo": -5, "tile": -64}}, ("tiling", "halo")),
    ({"tiling": {"halo": 8, "tile": -64}}, ("tiling", "tile")),
    ({"tiling": {"halo": 8, "tile": 1_000_000}}, ("tiling", "tile")),
    ({"tiling": {"halo": 40, "tile": 64}}, ("tiling", "twice")),
    ({"tiling": {"halo": 8, "stride": 3}}, ("tiling", "stride")),
    ({"normalization": {"kind": "__import__('os')", "low": "x"}}, ("normalization", "kind")),
    ({"normalization": {"kind": "percentile", "low": "x"}}, ("normalization", "low")),
    ({"normalization": {"kind": "percentile", "low": float("nan"), "high": 1e308}},
     ("normalization", "low")),
    ({"normalization": {"kind": "percentile", "low": 99.9, "high": 0.1}},
     ("normalization", "below")),
    ({"normalization": {"kind": "percentile", "high": 100.5}}, ("normalization", "high")),
])
def test_edited_card_fields_are_refused_as_the_card_is_read(tmp_path, change, words, no_build):
    path = _edited(_weights(tmp_path), "edited.safetensors", lambda card: {**card, **change})
    no_build()
    for read in (read_card, load_model):
        with pytest.raises(ValueError) as caught:
            read(path)
        _one_line(caught.value, path, *words)


def test_deblur_blames_the_card_not_an_option_never_given(tmp_path, capsys):
    """'--tile 64 is smaller than the receptive field (2000001 px)' and '--overlap (-65, 0)
    must be >= 0' named options the user never gave."""
    image = tmp_path / "small.tif"
    tifffile.imwrite(image, np.random.default_rng(0).random((48, 48), dtype=np.float32))
    weights = _weights(tmp_path)
    for n, tiling in enumerate(({"halo": 1_000_000, "tile": 64}, {"halo": -5, "tile": -64})):
        path = _edited(weights, f"edited{n}.safetensors", lambda c, t=tiling: {**c, "tiling": t})
        out = tmp_path / f"out{n}.tif"
        assert main(["deblur", str(image), "--weights", str(path), "-o", str(out),
                     "--device", "cpu", "-q"]) != 0
        said = capsys.readouterr().err.strip()
        assert len(said.splitlines()) == 1 and path.name in said and "tiling" in said, said
        assert "--tile" not in said and "--overlap" not in said, said
        assert not out.exists()


# ------------------------------------------------------------------ 3: nesting


def test_a_card_nested_100000_deep_is_one_line(tmp_path, no_build):
    path = _edited(_weights(tmp_path), "deep.safetensors",
                   lambda card: json.dumps({**card, "metrics": "@"}).replace(
                       '"@"', "[" * 100_000 + "]" * 100_000))
    no_build()
    for read in (read_card, load_model):
        with pytest.raises(ValueError) as caught:
            read(path)
        _one_line(caught.value, path, "model card", "deep")


def test_a_card_nested_deep_within_pythons_stack_is_refused_too(tmp_path):
    path = _edited(_weights(tmp_path), "deep.safetensors",
                   lambda card: {**card, "metrics": {"m": json.loads("[" * 500 + "]" * 500)}})
    with pytest.raises(ValueError) as caught:
        read_card(path)
    _one_line(caught.value, path, "deep")


def test_a_degradation_nested_deep_is_refused_naming_the_field(tmp_path, no_build):
    path = _edited(_weights(tmp_path, "wiener_unet"), "deepdeg.safetensors",
                   lambda card: {**card, "degradation": "[" * 100_000 + "]" * 100_000})
    no_build()
    for read in (read_card, load_model):
        with pytest.raises(ValueError) as caught:
            read(path)
        _one_line(caught.value, path, "degradation")


def test_the_psf_safeguard_reads_a_deep_degradation_as_unknown():
    from napari_microdeblur.core import psf_safeguard

    card = SimpleNamespace(metrics={}, degradation="[" * 100_000 + "]" * 100_000)
    default = psf_safeguard.trained_half_max_width(SimpleNamespace(metrics={}, degradation=""))
    assert psf_safeguard.trained_half_max_width(card) == default


# ------------------------------------------------------------------ 4: a zoo zip bomb


def _zip(path: Path, data: bytes, compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        zf.writestr("rdf.yaml", "format_version: 0.5.3\n")
        zf.writestr("weights.safetensors", data)
    return path


@pytest.fixture
def no_unpacking(monkeypatch):
    """Reading any zip entry (ZipFile.read opens it too) fails the test; writing one not."""
    real = zipfile.ZipFile.open

    def opened(self, name, mode="r", *args, **kwargs):
        if mode == "r":
            pytest.fail(f"the entry {name} was unpacked")
        return real(self, name, mode, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", opened)


def test_a_zip_bomb_attachment_is_refused_before_a_byte_is_unpacked(tmp_path, no_unpacking):
    """20 MiB of zeros in 20 KB (the walkthrough's: 3 GiB in 14 MB, 8.4 GB of memory)."""
    path = _zip(tmp_path / "bomb.zip", bytes(20 << 20))
    for read in (read_bioimageio_card, read_bioimageio_zip):
        with pytest.raises(ValueError) as caught:
            read(path)
        _one_line(caught.value, path, "weights.safetensors", "MiB")


def test_an_attachment_larger_than_the_limit_is_refused(tmp_path, monkeypatch, no_unpacking):
    from napari_microdeblur.core import export

    monkeypatch.setattr(export, "ATTACHMENT_LIMIT", 1 << 20)  # not 2 GiB, in a test
    noise = np.random.default_rng(0).bytes(2 << 20)
    path = _zip(tmp_path / "big.zip", noise, compression=zipfile.ZIP_STORED)
    with pytest.raises(ValueError) as caught:
        read_bioimageio_card(path)
    _one_line(caught.value, path, "weights.safetensors")


def test_info_of_a_zip_bomb_is_one_line(tmp_path, capsys, no_unpacking):
    path = _zip(tmp_path / "bomb.zip", bytes(20 << 20))
    assert main(["info", str(path)]) != 0
    said = capsys.readouterr().err.strip()
    assert len(said.splitlines()) == 1 and "bomb.zip" in said, said


# ------------------------------------------------------------------ 5: terminal escapes


ESCAPES = "\x1b[2J\x1b[1;1H\x1b]0;owned\x07\rFAKE LINE\nmore\u202e"


def _no_controls(text: str) -> None:
    assert not any(c in text for c in "\x1b\x07\r\u202e"), repr(text)


def test_info_escapes_a_cards_description_and_training_data(tmp_path, capsys):
    path = _weights(tmp_path, description="nice model" + ESCAPES,
                    training_data="\x1b[8mhidden\x1b[0m")
    assert main(["info", str(path)]) == 0
    said = capsys.readouterr().out
    _no_controls(said)
    assert "\\x1b[2J" in said and "\\x1b[8mhidden" in said and "FAKE LINE" in said, said
    assert not any(line.startswith("FAKE LINE") for line in said.splitlines()), said


def test_info_escapes_a_records_device_name_and_source_file(tmp_path, capsys):
    image = tmp_path / "small.tif"
    tifffile.imwrite(image, np.random.default_rng(0).random((32, 32), dtype=np.float32))
    out = tmp_path / "out.tif"
    assert main(["deblur", str(image), "-o", str(out), "--method", "wiener",
                 "--psf", "gaussian:1.6", "--device", "cpu", "-q"]) == 0
    with tifffile.TiffFile(out) as tif:
        record = json.loads(tif.imagej_metadata["Info"])
    record["microdeblur"].update(device_name="\x1b[2J\x1b]0;owned\x07cpu\nFAKE",
                                 source_file="x\x1b[31m.tif")
    hostile = tmp_path / "rec_esc.tif"
    tifffile.imwrite(hostile, np.zeros((16, 16), np.float32), imagej=True,
                     metadata={"Info": json.dumps(record)})
    capsys.readouterr()
    for options in ([], ["--command"]):
        assert main(["info", str(hostile), *options]) == 0
        said = capsys.readouterr().out
        _no_controls(said)
        assert "\\x1b[31m" in said, said
    assert main(["info", str(hostile)]) == 0
    said = capsys.readouterr().out
    # the newline a space on the same line: no fake line (review: not a literal '\\n')
    assert "\\x1b[2J" in said and "cpu FAKE)" in said and "\nFAKE" not in said, said


def test_an_info_error_line_escapes_what_the_file_said(tmp_path, capsys, monkeypatch):
    from napari_microdeblur import cli_info

    def describe(path):
        raise ValueError(f"{path}: its card names {ESCAPES}")

    monkeypatch.setattr(cli_info, "describe", describe)
    (tmp_path / "w.safetensors").write_bytes(b"x")
    assert main(["info", str(tmp_path / "w.safetensors")]) != 0
    said = capsys.readouterr().err
    _no_controls(said)
    assert len(said.strip().splitlines()) == 1, said


def test_info_keeps_a_cards_line_breaks_and_tabs_as_spaces():
    """Review of 7ad71fb: a card's two paragraphs had shown a literal '\\n'; escapes stay."""
    from napari_microdeblur.core.card_checks import shown_text, shown_values

    said = shown_values({"notes": "at 0.065 µm/px (λ = 520 nm).\nSecond:\tsee 细胞\r"})
    assert said == {"notes": "at 0.065 µm/px (λ = 520 nm). Second: see 细胞 "}
    assert shown_text("a\x1b[2Jb\nc") == "a\\x1b[2Jb c"
