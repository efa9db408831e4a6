"""`microdeblur watch` records in each output it deblurs why it did (``focus`` in the output's
record: score, threshold and where it came from, decision, soft planes); the files it copies
stay byte-identical copies with no record; other deblurs record no ``focus``."""

import csv
import json

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import io
from napari_microdeblur.core.degrade import degrade
from napari_microdeblur.core.files import deblur_file
from napari_microdeblur.core.focus import focus_score

RL = ["--method", "richardson_lucy", "--psf", "gaussian:1.6", "--iterations", "3",
      "--device", "cpu", "-q"]


def _record(path) -> dict | None:
    record = io.read_image(path).metadata.get("microdeblur")
    json.dumps(record)  # plain JSON
    return record


def _rows(out) -> dict:
    with open(out / "microdeblur_watch.csv", newline="", encoding="utf-8") as f:
        return {r["name"]: r for r in csv.DictReader(f)}


@pytest.fixture
def watched(tmp_path, fluo_u8):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir(), out.mkdir()
    tifffile.imwrite(src / "sharp.tif", fluo_u8)
    tifffile.imwrite(src / "soft.tif", degrade(fluo_u8, "A", seed=0))
    return src, out


def test_soft_output_records_why_and_the_sharp_copy_is_byte_identical(watched, fluo_u8):
    src, out = watched
    sharp, soft = focus_score(fluo_u8), focus_score(degrade(fluo_u8, "A", seed=0))
    threshold = (sharp + soft) / 2
    assert main(["watch", str(src), str(out), "--threshold", repr(threshold), "--once",
                 "--settle", "0", *RL]) == 0
    rows = _rows(out)
    assert rows["soft.tif"]["decision"] == "deblurred"
    focus = _record(out / "soft_deblurred.tif")["focus"]
    assert focus["score"] < focus["threshold"] == pytest.approx(threshold)
    assert focus["score"] == pytest.approx(float(rows["soft.tif"]["score"]), rel=1e-5)
    assert focus["decision"] == rows["soft.tif"]["decision"] == "deblurred"
    assert focus["threshold_from"] == {"option": "--threshold"}
    assert focus["log"] == "microdeblur_watch.csv" and "planes" not in focus  # one plane
    # the sharp file was not processed: the very bytes, no record added
    assert rows["sharp.tif"]["decision"] == "copied"
    assert (out / "sharp.tif").read_bytes() == (src / "sharp.tif").read_bytes()
    assert _record(out / "sharp.tif") is None


def test_calibrated_stack_records_its_soft_planes(tmp_path, focus_stack):
    src, out, good = tmp_path / "in", tmp_path / "out", tmp_path / "good"
    for d in (src, out, good):
        d.mkdir()
    for z in (6, 7, 8):  # the in-focus planes as the known-good images
        tifffile.imwrite(good / f"g{z}.tif", focus_stack[z])
    stack = focus_stack[4:10]
    tifffile.imwrite(src / "stack.tif", stack, metadata={"axes": "ZYX"})
    assert main(["watch", str(src), str(out), "--calibrate", str(good), "--percentile", "50",
                 "--once", "--settle", "0", *RL]) == 0
    focus = _record(out / "stack_deblurred.tif")["focus"]
    assert focus["threshold_from"] == {"option": "--calibrate", "folder": "good",
                                       "percentile": 50.0, "images": 3, "left_out": 0,
                                       "margin": 1.0}
    scores = focus_score(stack, axes="ZYX")
    planes = focus["planes"]
    assert planes["axes"] == "Z" and planes["count"] == 6
    np.testing.assert_allclose(planes["scores"], scores, rtol=1e-6)
    soft = [z for z in range(6) if scores[z] < focus["threshold"]]
    assert soft and planes["soft"] == soft and planes["soft_count"] == len(soft)
    assert planes["no_structure"] == [] and focus["score"] == pytest.approx(scores.min())


def test_deblur_records_no_focus(tmp_path, fluo_u8):
    tifffile.imwrite(tmp_path / "a.tif", degrade(fluo_u8, "A", seed=0))
    assert main(["deblur", str(tmp_path / "a.tif"), "-o", str(tmp_path / "b.tif"), *RL]) == 0
    record = _record(tmp_path / "b.tif")
    assert record["method"] == "richardson_lucy" and "focus" not in record


def test_record_extra_adds_fields_and_never_replaces_the_runs(tmp_path, fluo_u8):
    tifffile.imwrite(tmp_path / "a.tif", fluo_u8)
    options = dict(method="richardson_lucy", psf="gaussian:1.6", iterations=2, device="cpu")
    deblur_file(tmp_path / "a.tif", tmp_path / "b.tif", record_extra={"lab": {"run": 3}},
                **options)
    assert _record(tmp_path / "b.tif")["lab"] == {"run": 3}
    with pytest.raises(ValueError, match="method"):
        deblur_file(tmp_path / "a.tif", tmp_path / "c.tif", record_extra={"method": "x"},
                    **options)
    assert not (tmp_path / "c.tif").exists()  # refused before anything was written
