"""`microdeblur deblur IN.tif -o OUT.tif --json` (one file, no folder): its object carries
`warnings`, the file's own warnings as raised, as each file's object of a batch does (it had
none: a script reading the one-file object found no key)."""

from __future__ import annotations

import json

import numpy as np
import tifffile

from napari_microdeblur.cli import main

#: Wiener on sharp edges, cast back to uint8: its ringing is clipped to 0-255
WIENER = ["--method", "wiener", "--psf", "gaussian:2", "--balance", "0.01", "--device", "cpu",
          "--output-dtype", "input", "--json"]
CLIP = "clipped to 0-255"


def _blocks(path, planes=None):
    """Sharp-edged 8-bit blocks (one plane, or a ZYX stack of ``planes``)."""
    rng = np.random.default_rng(1)
    if planes is None:
        image = np.kron(rng.integers(0, 250, (8, 8)), np.ones((6, 6))).astype(np.uint8)
        tifffile.imwrite(path, image)
    else:
        image = np.kron(rng.integers(0, 250, (planes, 8, 8)), np.ones((1, 6, 6)))
        tifffile.imwrite(path, image.astype(np.uint8), photometric="minisblack",
                         metadata={"axes": "ZYX"})
    return path


def _smooth(path):
    """A smooth 8-bit image well inside 0-255: Wiener clips nothing, nothing to warn of."""
    from scipy.ndimage import gaussian_filter

    noise = np.random.default_rng(0).random((48, 48))
    tifffile.imwrite(path, (400 * gaussian_filter(noise, 3)).astype(np.uint8))  # 165-236
    return path


def _one_object(out: str) -> dict:
    lines = out.splitlines()
    assert len(lines) == 1, out
    return json.loads(lines[0])


def test_one_file_json_names_its_clip_warning_and_stderr_says_it_once(tmp_path, capsys):
    source, target = _blocks(tmp_path / "a.tif"), tmp_path / "o.tif"
    assert main(["deblur", str(source), "-o", str(target), *WIENER]) == 0
    captured = capsys.readouterr()
    record = _one_object(captured.out)
    assert record["status"] == "ok"
    clipped = [w for w in record["warnings"] if CLIP in w]
    assert len(clipped) == 1 and clipped[0].startswith(f"'{target}': ")
    # stderr as before: each warning once, in full, not prefixed with the file's name
    said = [line for line in captured.err.splitlines() if CLIP in line]
    assert said == [f"microdeblur: warning: {clipped[0]}"]
    assert len(captured.err.splitlines()) == len(record["warnings"])


def test_one_file_json_without_warnings_says_an_empty_list(tmp_path, capsys):
    source = _smooth(tmp_path / "b.tif")
    assert main(["deblur", str(source), "-o", str(tmp_path / "o.tif"), *WIENER]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert _one_object(captured.out)["warnings"] == []


def test_one_file_failed_json_has_warnings(tmp_path, capsys):
    source = _blocks(tmp_path / "a.tif")
    target = tmp_path / "missing" / "o.tif"  # its folder is not made: the file fails
    assert main(["deblur", str(source), "-o", str(target), *WIENER]) == 2
    record = _one_object(capsys.readouterr().out)
    assert record["status"] == "failed" and "create it first" in record["error"]
    assert record["warnings"] == []


def test_one_file_focus_below_json_names_its_clip_warning(tmp_path, capsys):
    source = _blocks(tmp_path / "z.tif", planes=3)
    argv = ["deblur", str(source), "-o", str(tmp_path / "o.tif"), *WIENER, "--focus-below", "1e9"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    record = _one_object(captured.out)
    assert record["deblurred_units"] == 3
    assert [w for w in record["warnings"] if CLIP in w], record
    assert sum(CLIP in line for line in captured.err.splitlines()) == 1


def test_one_file_warnings_are_those_a_batch_gives_the_file(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    source = _blocks(src / "a.tif")
    assert main(["deblur", str(src), "-o", str(out), *WIENER]) == 0
    batch = _one_object(capsys.readouterr().out)
    single_out = tmp_path / "one.tif"
    assert main(["deblur", str(source), "-o", str(single_out), *WIENER]) == 0
    single = _one_object(capsys.readouterr().out)["warnings"]
    # the same warnings, each naming its own output
    named = [w.replace(str(single_out), batch["output"]) for w in single]
    assert [w for w in named if CLIP in w] and named == batch["warnings"]


def test_one_file_on_a_cluster_json_names_its_clip_warning(tmp_path, capsys, client):
    """--scheduler with one file: its object carries `warnings` too (it had none)."""
    src = _blocks(tmp_path / "blocks.tif")
    out = tmp_path / "out.tif"
    assert main(["deblur", str(src), "-o", str(out), *WIENER,
                 "--scheduler", client.scheduler.address]) == 0
    objects = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(objects) == 1 and objects[0]["status"] == "ok"
    assert any(CLIP in warning for warning in objects[0]["warnings"]), objects[0]
