"""A `deblur` rerun into a folder (walkthrough "upgrade"): a weights file replaced in place by
other weights under the same name was not noticed (its outputs skipped as made with this
run's settings, though each record holds weights_sha256); outputs holding no record (an older
release's, another program's) were skipped with no word that their settings went unchecked."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import tifffile
import torch
from scipy.ndimage import gaussian_filter

import napari_microdeblur.core.checkpoint as checkpoint
from napari_microdeblur.cli import main
from napari_microdeblur.core import registry, weights

WIENER = ["--method", "wiener", "--psf", "gaussian:1", "--balance", "0.05", "--device", "cpu"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _save_gran(path, seed: int):
    """A tiny GRAN with random weights (``seed``), saved with its card at ``path``."""
    torch.manual_seed(seed)
    model = registry.build_model("gran", registry.get_arch("gran").tiny_config)
    weights.save_weights(model, path, {"arch": "gran", "config": model.config.model_dump(),
                                       "in_channels": 1, "out_channels": 1,
                                       "license": "BSD-3-Clause",
                                       "training_data": "none: random weights for a test"})
    return path


def _planes(folder, count: int = 2):
    folder.mkdir()
    for i in range(count):
        rng = np.random.default_rng(i)
        tifffile.imwrite(folder / f"t{i}.tif",
                         gaussian_filter(rng.random((48, 48)) * 200, 1.0).astype(np.uint8))
    return folder


def _json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.fixture
def deblurred(tmp_path, capsys):
    """Two outputs made by this code with the weights file my.safetensors; the file is then
    replaced in place by other fine-tuned weights (same name)."""
    folder, out = _planes(tmp_path / "in"), tmp_path / "out"
    out.mkdir()
    given = _save_gran(tmp_path / "my.safetensors", seed=0)
    shutil.copyfile(given, tmp_path / "first.safetensors")  # kept to put back
    args = ["deblur", str(folder), "-o", str(out), "--weights", str(given), "--device", "cpu"]
    assert main([*args, "-q"]) == 0
    made = {p.name: p.read_bytes() for p in out.iterdir()}
    first_sha = checkpoint.sha256_file(given)
    _save_gran(tmp_path / "other.safetensors", seed=1)
    shutil.copyfile(tmp_path / "other.safetensors", given)  # replaced in place
    capsys.readouterr()
    return args, out, made, first_sha, checkpoint.sha256_file(given)


def test_weights_replaced_in_place_are_other_settings(deblurred, capsys):
    args, out, made, first_sha, new_sha = deblurred
    assert first_sha != new_sha
    assert main([*args, "--json"]) == 0
    captured = capsys.readouterr()
    lines = _json_lines(captured.out)
    assert len(lines) == 2
    assert all(line["status"] == "skipped" for line in lines)
    assert all(line["settings_differ"] == ["weights"] for line in lines)
    assert ("2 skipped outputs were made with other settings than this run's (t0_deblurred.tif: "
            f"weights my.safetensors, sha256 {first_sha[:12]} (this run: my.safetensors, "
            f"sha256 {new_sha[:12]}: same name, other weights); and others): pass --overwrite "
            "to redo them") in captured.err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == made  # kept: no --overwrite


def test_the_same_weights_again_are_not_a_difference(deblurred, capsys):
    # compared by content: the first weights put back, or given under another name
    args, out, *_ = deblurred
    given = out.parent / "my.safetensors"
    shutil.copyfile(out.parent / "first.safetensors", given)
    renamed = [*args[:-3], str(out.parent / "first.safetensors"), *args[-2:]]
    for rerun in (args, renamed):
        assert main([*rerun, "--json"]) == 0
        captured = capsys.readouterr()
        assert "other settings" not in captured.err
        assert all("settings_differ" not in line for line in _json_lines(captured.out))


def test_the_weights_file_is_hashed_once_a_run(deblurred, monkeypatch, capsys):
    args, out, *_ = deblurred
    real, hashed = checkpoint.sha256_file, []

    def counted(path):
        hashed.append(str(path))
        return real(path)

    monkeypatch.setattr(checkpoint, "sha256_file", counted)
    assert main([*args, "-q"]) == 0
    weights_file = str(out.parent / "my.safetensors")
    assert hashed.count(weights_file) == 1  # two skipped outputs compared, one hash
    assert "2 skipped outputs were made with other settings" in capsys.readouterr().err


@pytest.mark.parametrize("quiet", [[], ["-q"]])
def test_outputs_without_a_record_are_said_not_compared(tmp_path, capsys, quiet):
    folder, out = _planes(tmp_path / "in", count=3), tmp_path / "out"
    out.mkdir()
    for i in range(3):  # as an older release or another program wrote them: no record
        tifffile.imwrite(out / f"t{i}_deblurred.tif", np.zeros((48, 48), np.float32))
    assert main(["deblur", str(folder), "-o", str(out), *quiet, *WIENER]) == 0
    err = capsys.readouterr().err
    assert ("microdeblur: warning: 3 skipped outputs hold no record of their settings "
            "(t0_deblurred.tif and others: made by a release before records, or by another "
            "program), so they were not compared with this run's: pass --overwrite to redo "
            "them") in err
    assert err.count("hold no record") == 1  # one line a run, not one a file

    assert main(["deblur", str(folder), "-o", str(out), "--json", *WIENER]) == 0
    assert "3 skipped outputs hold no record of their settings" in capsys.readouterr().err


def test_only_the_outputs_without_a_record_are_counted(tmp_path, capsys):
    folder, out = _planes(tmp_path / "in"), tmp_path / "out"
    out.mkdir()
    assert main(["deblur", str(folder), "-o", str(out), "-q", *WIENER]) == 0
    tifffile.imwrite(out / "t1_deblurred.tif", np.zeros((48, 48), np.float32))  # one replaced
    capsys.readouterr()
    assert main(["deblur", str(folder), "-o", str(out), "-q", *WIENER]) == 0
    err = capsys.readouterr().err
    assert "1 skipped output holds no record of its settings (t1_deblurred.tif: " in err
    assert "so it was not compared with this run's: pass --overwrite to redo it" in err


def test_past_the_records_read_unrecorded_outputs_are_not_counted(tmp_path, monkeypatch,
                                                                   capsys):
    import napari_microdeblur.cli_batch as cli_batch

    monkeypatch.setattr(cli_batch, "CHECKED_AT_MOST", 1)  # one record read, as 1000 of 3000
    folder, out = _planes(tmp_path / "in", count=3), tmp_path / "out"
    out.mkdir()
    for i in range(3):
        tifffile.imwrite(out / f"t{i}_deblurred.tif", np.zeros((48, 48), np.float32))
    assert main(["deblur", str(folder), "-o", str(out), "-q", *WIENER]) == 0
    assert ("1 skipped output holds no record of its settings (of the first 1 skipped, whose "
            "records were read) (t0_deblurred.tif: ") in capsys.readouterr().err
