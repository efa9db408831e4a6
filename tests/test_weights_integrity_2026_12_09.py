"""Weights files a colleague receives damaged, renamed or from a newer version (walkthrough
"wintegrity"): bit-rot inside the tensors loaded silently and gave a wrong image; a card
field a newer release added was called an edit; a damaged header quoted its whole 3 KB card
in one error line; a .safetensors file renamed to .pt or without an ending was refused."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
import tifffile
import torch
from safetensors.torch import save_file

from napari_microdeblur import __version__
from napari_microdeblur.cli import main
from napari_microdeblur.core import notes, registry
from napari_microdeblur.core.checkpoint import (
    CARD_KEY,
    card_for_model,
    list_user_weights,
    load_model,
    read_card,
    save_weights,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tiny(arch: str = "gran", seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return registry.build_model(arch, registry.preset_config(arch, "tiny"))


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "shared.safetensors"
    save_weights(_tiny(), path, {"license": "MIT", "description": "a fine-tune " * 300})
    return path


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / "plane.tif"
    tifffile.imwrite(path, np.random.default_rng(0).random((48, 48)).astype(np.float32) * 500)
    return path


def _data_start(raw: bytes) -> int:
    return 8 + int.from_bytes(raw[:8], "little")


def _bit_rot(path, to):
    """``path`` copied to ``to`` with 100 bytes flipped inside the tensor data, as the
    walkthrough's corrupt_data.safetensors."""
    raw = bytearray(path.read_bytes())
    n = _data_start(raw)
    for i in range(n + 1000, n + 1100):
        raw[i] ^= 0xFF
    to.write_bytes(bytes(raw))
    return to


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("microdeblur: error:")
    return err


# ------------------------------------------------------------------ (1) bit-rot in the tensors


def test_bit_rot_in_saved_tensors_is_refused_naming_the_file(saved, tmp_path):
    bad = _bit_rot(saved, tmp_path / "copied.safetensors")
    before = bad.read_bytes()
    for read in (load_model, read_card):  # read_card: what `microdeblur info` shows
        with pytest.raises(ValueError) as caught:
            read(bad)
        text = str(caught.value)
        assert text.startswith(f"{bad}: damaged: its tensors do not match the hash")
        assert "copy it again" in text and "\n" not in text
    with pytest.warns(notes.DeblurWarning, match="copied.safetensors: damaged"):
        assert [p.name for p, _ in list_user_weights(tmp_path)] == ["shared.safetensors"]
    assert bad.read_bytes() == before  # the user's file stays as it was
    model, card = load_model(saved)  # the intact original loads
    assert card.license == "MIT"


def test_a_changed_dtype_in_the_header_is_refused(saved, tmp_path):
    """F32 read as I32 (same size, so safetensors accepts it) was copied into the float
    parameters as integers: a wrong network without a word."""
    raw = saved.read_bytes()
    n = _data_start(raw)
    header = raw[8:n].replace(b'"dtype":"F32"', b'"dtype":"I32"', 1)
    assert len(header) == n - 8 and header != raw[8:n]
    bad = tmp_path / "dtype.safetensors"
    bad.write_bytes(raw[:8] + header + raw[n:])
    with pytest.raises(ValueError, match="dtype.safetensors: damaged"):
        load_model(bad)


def test_the_cli_refuses_damaged_weights_in_one_line_and_writes_nothing(
        saved, tmp_path, image_file, capsys):
    bad = _bit_rot(saved, tmp_path / "bad.safetensors")
    out = tmp_path / "out.tif"
    assert main(["deblur", str(image_file), "-o", str(out), "--weights", str(bad), "-q"]) == 2
    assert "bad.safetensors: damaged" in _one_error_line(capsys)
    assert not out.exists()
    assert main(["info", str(bad)]) != 0
    assert "damaged" in capsys.readouterr().err


def test_files_without_the_hash_load_as_before_and_saving_is_repeatable(saved, tmp_path):
    """Older files, bundled ones and other tools' have no hash: read as before (a flip in
    their data cannot be seen). Saved again, the same weights give the same bytes."""
    model = _tiny()
    plain = tmp_path / "plain.safetensors"
    meta = {CARD_KEY: card_for_model(model, None).model_dump_json(exclude={"sha256", "source"})}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(plain), meta)
    loaded, _ = load_model(_bit_rot(plain, tmp_path / "plain_rot.safetensors"))
    assert loaded.state_dict().keys() == model.state_dict().keys()
    again = tmp_path / "again.safetensors"
    save_weights(_tiny(), again, {"license": "MIT", "description": "a fine-tune " * 300})
    assert again.read_bytes() == saved.read_bytes()
    header = json.loads(saved.read_bytes()[8:_data_start(saved.read_bytes())])
    assert set(header["__metadata__"]) - {CARD_KEY, "format"}, "no hash was stored"


# ------------------------------------------------------------------ (2) a newer release's card


def _with_card(tmp_path, name: str, change) -> object:
    model = _tiny()
    card = card_for_model(model, None).model_dump(mode="json", exclude={"sha256", "source"})
    change(card)
    path = tmp_path / name
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path),
              metadata={CARD_KEY: json.dumps(card)})
    return path


def _bumped(version: str) -> str:
    major = int(version.split(".")[0])
    return f"{major + 1}.0.0"


def test_a_field_a_newer_release_added_says_update_not_edited(tmp_path):
    newer = _bumped(__version__)
    path = _with_card(tmp_path, "newer_field.safetensors",
                      lambda c: c.update(pixel_size_um=[0.5, 0.5], software_version=newer))
    for read in (load_model, read_card):
        with pytest.raises(ValueError) as caught:
            read(path)
        text = str(caught.value)
        assert text.startswith(f"{path}: written by napari-microdeblur {newer}, newer than "
                               f"this one ({__version__})")
        assert "'pixel_size_um'" in text and "update napari-microdeblur" in text
        assert "edited" not in text and "\n" not in text


def test_an_unknown_field_from_the_same_version_names_both_causes(tmp_path):
    path = _with_card(tmp_path, "same.safetensors", lambda c: c.update(pixel_size_um=1.0))
    with pytest.raises(ValueError) as caught:
        load_model(path)
    text = str(caught.value)
    assert "'pixel_size_um'" in text and "newer build" in text and "edited or damaged" in text


def test_an_unknown_field_in_an_older_card_is_still_an_edit(tmp_path):
    path = _with_card(tmp_path, "older.safetensors",
                      lambda c: c.update(pixel_size_um=1.0, software_version="0.0.1"))
    with pytest.raises(ValueError, match=r"invalid model card: pixel_size_um.*edited or damaged"):
        load_model(path)


# ------------------------------------------------------------------ (3) a damaged header


def test_a_damaged_header_is_quoted_in_at_most_a_short_line(saved, tmp_path, image_file,
                                                              capsys):
    raw = bytearray(saved.read_bytes())
    raw[20:40] = b"x" * 20  # the walkthrough's corrupt_header.safetensors
    bad = tmp_path / "header.safetensors"
    bad.write_bytes(bytes(raw))
    for read in (load_model, read_card):
        with pytest.raises(ValueError) as caught:
            read(bad)
        text = str(caught.value)
        assert "header.safetensors: not a readable safetensors file" in text
        assert len(text) < 300 and "a fine-tune a fine-tune" not in text
    out = tmp_path / "out.tif"
    assert main(["deblur", str(image_file), "-o", str(out), "--weights", str(bad), "-q"]) == 2
    assert len(_one_error_line(capsys)) < 320


# ------------------------------------------------------------------ (4) renamed files


@pytest.mark.parametrize("name", ["renamed.pt", "renamed_noext", "renamed.zip"])
def test_a_renamed_safetensors_file_is_read_by_its_content_with_one_note(saved, tmp_path, name):
    renamed = tmp_path / name
    shutil.copyfile(saved, renamed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, card = load_model(renamed)
    said = [str(w.message) for w in caught if issubclass(w.category, notes.DeblurNote)]
    assert len(said) == 1 and said[0].startswith(f"{renamed}: holds .safetensors weights")
    assert "rename it to renamed" in said[0]
    original, _ = load_model(saved)
    assert all(torch.equal(v, original.state_dict()[k]) for k, v in model.state_dict().items())
    assert card.license == "MIT" and renamed.read_bytes() == saved.read_bytes()


def test_the_cli_deblurs_with_a_renamed_file(saved, tmp_path, image_file):
    renamed = tmp_path / "weights.pt"
    shutil.copyfile(saved, renamed)
    out = tmp_path / "out.tif"
    assert main(["deblur", str(image_file), "-o", str(out), "--weights", str(renamed),
                 "-q"]) == 0
    assert tifffile.imread(out).shape == (48, 48)


def test_foreign_bytes_with_a_weights_ending_are_still_refused(tmp_path):
    fake = tmp_path / "fake.pt"
    fake.write_bytes((64).to_bytes(8, "little") + b"[" + bytes(70))  # no JSON object
    with pytest.raises(ValueError, match="not a readable PyTorch weights file"):
        load_model(fake, arch="gran")
