"""A `deblur` rerun into a folder compares each skipped output's record with this run's
settings (walkthrough "stale2"): (1) a PSF file replaced in place by a wider one under the
same name was compared by name only, so both outputs were skipped silently although each
record holds the file's sha256; (2) a BioImage.IO .zip weights package given again unchanged
was always 'same name, other weights' (the record holds the sha256 of the checkpoint loading
unpacks from it, the rerun hashed the zip); (3) an output saved from the Deblur dock, deblurred
by a network of the session, recorded no method spec, so the rerun said it was made 'by a
release before records, or by another program'."""

from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np
import pytest
import tifffile
import torch
from scipy.ndimage import gaussian_filter

from napari_microdeblur.cli import main
from napari_microdeblur.core import registry, weights

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms
WIENER = ["--method", "wiener", "--balance", "0.05", "--device", "cpu"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _clean_session():
    from napari_microdeblur._widgets._methods import SESSION_MODELS

    SESSION_MODELS.clear()
    yield
    SESSION_MODELS.clear()


def _gran(seed: int):
    torch.manual_seed(seed)
    return registry.build_model("gran", registry.get_arch("gran").tiny_config)


def _card(model) -> dict:
    return {"arch": "gran", "config": model.config.model_dump(), "in_channels": 1,
            "out_channels": 1, "license": "BSD-3-Clause",
            "training_data": "none: random weights for a test"}


def _save_gran(path, seed: int):
    """A tiny GRAN with random weights (``seed``), saved with its card at ``path``."""
    model = _gran(seed)
    weights.save_weights(model, path, _card(model))
    return path


def _export_gran(path, seed: int):
    """A tiny GRAN with random weights (``seed``) as a BioImage.IO package at ``path``."""
    from napari_microdeblur.core.export import export_bioimageio

    model = _gran(seed)
    test_input = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    return export_bioimageio(model, _card(model), path, test_input=test_input)


def _gaussian_psf(path, sigma: float):
    y, x = np.mgrid[-7:8, -7:8]
    psf = np.exp(-(x ** 2 + y ** 2) / (2 * sigma ** 2)).astype(np.float32)
    tifffile.imwrite(path, psf / psf.sum())
    return path


def _planes(folder, count: int = 2):
    folder.mkdir()
    for i in range(count):
        rng = np.random.default_rng(i)
        tifffile.imwrite(folder / f"t{i}.tif",
                         gaussian_filter(rng.random((48, 48)) * 200, 1.0).astype(np.uint8))
    return folder


def _rerun(args, capsys) -> tuple[list[dict], str]:
    """``args`` run again with --json: its lines and its stderr."""
    capsys.readouterr()
    assert main([*args, "--json"]) == 0
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")]
    assert lines and all(line["status"] == "skipped" for line in lines)
    return lines, captured.err


def _silent(lines, err) -> bool:
    """Skipped as made with this run's settings: nothing said of them."""
    return (all("settings_differ" not in line for line in lines)
            and "other settings" not in err and "no record" not in err)


# ----------------------------------------------------------------------------- (1) PSF


def test_a_psf_file_replaced_in_place_is_other_settings(tmp_path, capsys):
    from napari_microdeblur.core.checkpoint import sha256_file

    folder, out = _planes(tmp_path / "in"), tmp_path / "out"
    out.mkdir()
    psf = _gaussian_psf(tmp_path / "psf.tif", 1.0)
    first = sha256_file(psf)
    shutil.copyfile(psf, tmp_path / "first.tif")
    args = ["deblur", str(folder), "-o", str(out), "--psf", str(psf), *WIENER]
    assert main([*args, "-q"]) == 0
    made = {p.name: p.read_bytes() for p in out.iterdir()}
    _gaussian_psf(tmp_path / "wide.tif", 2.5)
    shutil.copyfile(tmp_path / "wide.tif", psf)  # a wider PSF under the same name
    wide = sha256_file(psf)

    lines, err = _rerun(args, capsys)
    assert [line["settings_differ"] for line in lines] == [["psf"], ["psf"]]  # was: none
    assert ("2 skipped outputs were made with other settings than this run's (t0_deblurred.tif: "
            f"PSF psf.tif, sha256 {first[:12]} (this run: psf.tif, sha256 {wide[:12]}: same "
            "name, other PSF); and others): pass --overwrite to redo them") in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == made  # kept: no --overwrite

    # the first PSF's content, under its own name or another: the same settings
    shutil.copyfile(tmp_path / "first.tif", psf)
    assert _silent(*_rerun(args, capsys))
    renamed = ["deblur", str(folder), "-o", str(out), "--psf", str(tmp_path / "first.tif"),
               *WIENER]
    assert _silent(*_rerun(renamed, capsys))
    # another PSF under another name is another PSF, as before
    other = ["deblur", str(folder), "-o", str(out), "--psf", str(tmp_path / "wide.tif"), *WIENER]
    lines, err = _rerun(other, capsys)
    assert all(line["settings_differ"] == ["psf"] for line in lines)
    assert "PSF psf.tif (this run: PSF wide.tif)" in err


def test_a_psf_per_channel_is_compared_part_by_part(tmp_path, capsys):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir(), out.mkdir()
    rng = np.random.default_rng(0)
    tifffile.imwrite(folder / "c.tif", np.stack([gaussian_filter(rng.random((48, 48)) * 200, 1)
                                                 for _ in range(2)]).astype(np.uint8),
                     metadata={"axes": "CYX"})
    psf = _gaussian_psf(tmp_path / "psf.tif", 1.0)
    shutil.copyfile(psf, tmp_path / "same.tif")
    args = ["deblur", str(folder), "-o", str(out), "--axes", "CYX", *WIENER]
    assert main([*args, "--psf", f"{psf};gaussian:1", "-q"]) == 0
    assert _silent(*_rerun([*args, "--psf", f"{tmp_path / 'same.tif'};gaussian:1"], capsys))
    _gaussian_psf(psf, 2.5)  # channel 1's file replaced in place
    lines, err = _rerun([*args, "--psf", f"{psf};gaussian:1"], capsys)
    assert lines[0]["settings_differ"] == ["psf"]
    assert "PSF psf.tif;gaussian:1, sha256 " in err and ";-: same name, other PSF)" in err


# ----------------------------------------------------------------------------- (2) .zip


def test_a_bioimageio_package_is_compared_by_the_weights_loading_records(tmp_path, capsys):
    folder, out = _planes(tmp_path / "in"), tmp_path / "out"
    out.mkdir()
    package = _export_gran(tmp_path / "g.zip", seed=0)
    args = ["deblur", str(folder), "-o", str(out), "--weights", str(package), "--device", "cpu"]
    assert main([*args, "-q"]) == 0
    assert _silent(*_rerun(args, capsys))  # was: 'same name, other weights', each time

    shutil.copyfile(package, tmp_path / "first.zip")
    _export_gran(tmp_path / "g.zip", seed=1)  # other weights under the same name
    lines, err = _rerun(args, capsys)
    assert all(line["settings_differ"] == ["weights"] for line in lines)
    assert "(t0_deblurred.tif: weights g.zip, sha256 " in err
    assert "same name, other weights); and others): pass --overwrite" in err
    # the first package under another name, or its checkpoint unpacked: the same weights
    with zipfile.ZipFile(tmp_path / "first.zip") as zf:
        unpacked = zf.extract("gran.safetensors", tmp_path / "unpacked")
    for given in (tmp_path / "first.zip", unpacked):
        assert _silent(*_rerun([*args[:-3], str(given), *args[-2:]], capsys))


# ----------------------------------------------------------------------------- (3) dock


def _dock_result(make_napari_viewer, qtbot, source, weights_file):
    """``source`` opened in napari and deblurred in the Deblur dock by ``weights_file``
    loaded as a network of the session; the result layer."""
    from napari_microdeblur._widgets._methods import add_loaded_weights
    from napari_microdeblur.core.checkpoint import load_model

    viewer = make_napari_viewer()
    viewer.open(str(source), plugin=PLUGIN)
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    label, _ = add_loaded_weights(weights_file, *load_model(weights_file))
    dock.set_method(label)
    dock.device_combo.setCurrentText("cpu")
    run = dock.run()
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    assert run.layer is not None
    return run.layer


@pytest.fixture
def dock_saved(make_napari_viewer, qtbot, tmp_path):
    """t0.tif deblurred in the Deblur dock by my.safetensors (a network of the session) and
    saved into the output folder as a `deblur` run names it: (the command that reruns it with
    the same weights, the result layer)."""
    folder, out = _planes(tmp_path / "in", count=1), tmp_path / "out"
    out.mkdir()
    mine = _save_gran(tmp_path / "my.safetensors", seed=0)
    _save_gran(tmp_path / "other.safetensors", seed=1)
    layer = _dock_result(make_napari_viewer, qtbot, folder / "t0.tif", mine)
    layer.save(str(out / "t0_deblurred.tif"), plugin=PLUGIN)  # File > Save
    return ["deblur", str(folder), "-o", str(out), "--weights", str(mine), "--device", "cpu"], layer


def _with_weights(args, path) -> list[str]:
    return [*args[:-3], str(path), *args[-2:]]


def test_a_dock_result_of_a_session_network_is_compared_with_a_cli_rerun(dock_saved, capsys):
    args, layer = dock_saved
    folder, out, mine = args[1], args[3], args[5]
    record = layer.metadata["microdeblur"]
    assert record["method_spec"]["weights"] == "my.safetensors"  # was: no method spec
    assert record["method_spec"]["name"] == "auto"
    lines, err = _rerun(args, capsys)
    assert _silent(lines, err), err  # was: 'holds no record of its settings'
    shutil.copyfile(mine, mine.replace("my.", "copy."))
    assert _silent(*_rerun(_with_weights(args, mine.replace("my.", "copy.")), capsys))
    lines, err = _rerun(_with_weights(args, mine.replace("my.", "other.")), capsys)
    assert lines[0]["settings_differ"] == ["weights"]
    assert ("1 skipped output was made with other settings than this run's (t0_deblurred.tif: "
            "weights my.safetensors (this run: weights other.safetensors)): pass --overwrite "
            "to redo it") in err
    lines, err = _rerun(["deblur", folder, "-o", out, "--psf", "gaussian:1", *WIENER], capsys)
    assert lines[0]["settings_differ"] == ["method", "weights", "psf"]


def test_a_dock_result_saved_before_it_recorded_a_spec_is_compared_by_its_weights(
        dock_saved, capsys):
    """Outputs the dock saved before: the record of this release, with no method spec."""
    from napari.layers import Image

    args, layer = dock_saved
    out, mine = args[3], args[5]
    older = Image(np.asarray(layer.data), name="t0 deblurred",
                  metadata={"microdeblur": {**layer.metadata["microdeblur"], "method_spec": None}})
    older.save(f"{out}/t0_deblurred.tif", plugin=PLUGIN)
    assert _silent(*_rerun(args, capsys))  # was: 'holds no record of its settings'
    shutil.copyfile(mine.replace("my.", "other."), mine)  # replaced in place
    lines, err = _rerun(args, capsys)
    assert lines[0]["settings_differ"] == ["weights"]
    assert "weights my.safetensors, sha256 " in err and "same name, other weights" in err


def test_a_dock_result_of_a_loaded_package_records_the_package(tmp_path):
    """A network loaded from a .zip in the dock records the package as --weights takes it
    (its card's source names the checkpoint inside: 'g.zip:gran.safetensors')."""
    from types import SimpleNamespace

    from napari_microdeblur._widgets._layer_data import deblur_metadata
    from napari_microdeblur._widgets._methods import SessionModel
    from napari_microdeblur.core.checkpoint import load_model
    from napari_microdeblur.core.method import MethodSpec
    from napari_microdeblur.core.tiling_spec import TilingSpec

    package = _export_gran(tmp_path / "g.zip", seed=0)
    model, card = load_model(package)
    assert card.source.endswith("g.zip:gran.safetensors")

    def record(origin: str) -> dict:
        req = SimpleNamespace(
            source_name="t0", method=MethodSpec("auto", modality="em"), scope="whole stack",
            network=SessionModel("g", model, card, origin), offset=(0, 0),
            tiling=TilingSpec(), psf_text="", axes="YX",
            placement={"rgb": False, "ndim": 2, "scale": (1.0, 1.0), "source": lambda: None,
                       "source_path": str(tmp_path / "t0.tif")})
        result = SimpleNamespace(
            parameters={"card": card}, axes="YX", tile=(48, 48), overlap=(0, 0),
            device="cpu", normalization=SimpleNamespace(kind="scale", offset=0.0, scale=1.0))
        return deblur_metadata(req, SimpleNamespace(result=result, card=card, seconds=1.0,
                                                    label="g"))

    spec = record("loaded")["method_spec"]
    # the image type, unread beside weights, as a CLI run with --weights records it
    assert spec["weights"] == "g.zip" and spec["modality"] == "auto"
    # a fine-tuning preview's card is its base's: its weights are in no file
    assert record("preview")["method_spec"] is None


# ------------------------------------------------------ (4) mendstale: review of a6cc2df


def test_a_part_of_an_image_saved_as_an_output_is_other_settings(tmp_path, capsys):
    """A dock's 'current slice' result (plane Z=3 of 8) and a Fine-tune Compare band crop,
    saved under an output's name, had passed silently for the whole input deblurred; a
    current slice of a YX layer is all of it and stays compared as before."""
    from napari_microdeblur._widgets._finetune_compare import weights_record
    from napari_microdeblur._widgets._methods import SessionModel
    from napari_microdeblur._writer import write_image_layer
    from napari_microdeblur.cli_batch_stale import output_record
    from napari_microdeblur.core.checkpoint import load_model

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir(), out.mkdir()
    rng = np.random.default_rng(0)
    tifffile.imwrite(folder / "s.tif", (rng.random((8, 48, 48)) * 200).astype(np.uint8),
                     metadata={"axes": "ZYX"})
    for name in ("q", "r"):
        tifffile.imwrite(folder / f"{name}.tif", (rng.random((48, 48)) * 200).astype(np.uint8))
    mine = _save_gran(tmp_path / "my.safetensors", seed=0)
    args = ["deblur", str(folder), "-o", str(out), "--weights", str(mine), "--device", "cpu"]
    assert main([*args, "-q"]) == 0

    def save(name: str, data, record: dict) -> None:
        write_image_layer(str(out / f"{name}_deblurred.tif"), data,
                          {"metadata": {"microdeblur": record}, "name": name})

    plane = np.zeros((1, 48, 48), np.float32)
    save("s", plane, {**output_record(out / "s_deblurred.tif"), "scope": "current slice",
                      "axes": "ZYX", "offset": (3, 0, 0)})
    save("q", np.zeros((48, 48), np.float32), {**output_record(out / "q_deblurred.tif"),
                                               "scope": "current slice", "axes": "YX",
                                               "offset": (0, 0)})
    network = SessionModel("my", *load_model(mine), "loaded")
    save("r", np.zeros((30, 48), np.float32),
         {**weights_record(network), "finetune_comparison": "held-out band Y 0-29",
          "role": "tuned"})
    lines, err = _rerun(args, capsys)
    assert [line.get("settings_differ") for line in lines] == [None, ["part"], ["part"]]
    assert ("2 skipped outputs were made with other settings than this run's (r_deblurred.tif: "
            "a part of the image (Fine-tune Compare's held-out band Y 0-29) (this run: the "
            "whole image); and others): pass --overwrite to redo them") in err
    assert "no record" not in err


def _calibrated_channels(tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir(), out.mkdir()
    rng = np.random.default_rng(0)
    image = np.stack([gaussian_filter(rng.random((48, 48)) * 200, 1) for _ in range(2)])
    tifffile.imwrite(folder / "c.tif", image.astype(np.uint8), imagej=True,
                     resolution=(10.0, 10.0), metadata={"axes": "CYX", "unit": "um"})
    return ["deblur", str(folder), "-o", str(out), "--axes", "CYX", *WIENER]


def test_optics_psfs_per_channel_completed_from_the_calibration_are_the_same(tmp_path, capsys):
    """Optics models per channel, pixel= completed from the file (the record holds
    '...,pixel=0.1' per part): an identical rerun said 'other settings' (the whole string
    compared), as did the completed spec given in full."""
    args = _calibrated_channels(tmp_path)
    given = "widefield:na=1.4,wavelength=0.52;widefield:na=1.4,wavelength=0.6"
    assert main([*args, "--psf", given, "-q"]) == 0
    assert _silent(*_rerun([*args, "--psf", given], capsys))
    full = "widefield:na=1.4,wavelength=0.52,pixel=0.1;widefield:na=1.4,wavelength=0.6,pixel=0.1"
    assert _silent(*_rerun([*args, "--psf", full], capsys))
    other = "widefield:na=1.4,wavelength=0.52;widefield:na=1.4,wavelength=0.55"
    lines, err = _rerun([*args, "--psf", other], capsys)
    assert lines[0]["settings_differ"] == ["psf"]  # another wavelength still differs
    assert f"(this run: PSF {other})" in err


def test_a_psf_file_is_hashed_once_a_rerun(tmp_path, capsys, monkeypatch):
    from napari_microdeblur.core import checkpoint

    folder, out = _planes(tmp_path / "in", count=3), tmp_path / "out"
    out.mkdir()
    psf = _gaussian_psf(tmp_path / "psf.tif", 1.0)
    args = ["deblur", str(folder), "-o", str(out), "--psf", str(psf), *WIENER]
    assert main([*args, "-q"]) == 0
    hashed, sha256_file = [], checkpoint.sha256_file
    def counted(path, *rest, **options):
        hashed.append(str(path))
        return sha256_file(path, *rest, **options)

    monkeypatch.setattr(checkpoint, "sha256_file", counted)
    assert _silent(*_rerun(args, capsys))
    assert hashed.count(str(psf)) == 1  # was 2: requested() and psf_pair() each
