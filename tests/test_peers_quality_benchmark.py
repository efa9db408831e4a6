"""benchmarks/peers_quality.py without the peer: finetune.py part a's pairs, our row, errors."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from _scripts import load_script

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    return load_script(str(path.relative_to(ROOT)), name)


pq = _load("peers_quality", ROOT / "benchmarks" / "peers_quality.py")
ft = pq.bench()
HAVE_DATA = all(ft.splits.files("em", s, "test") for s in ft.SSTEM)
needs_data = pytest.mark.skipif(not HAVE_DATA, reason="../shared/data is not here")


@needs_data
@pytest.mark.parametrize("set_name", list(ft.SSTEM))
def test_test_pairs_are_finetune_part_a_ones(set_name):
    """The input's per-slice PSNR matches finetune.json part a protocol A: same slices, same
    degradation seeds, same scoring."""
    recorded = json.loads((ROOT / "benchmarks" / "results" / "finetune.json").read_text())
    row = next(r for r in recorded["a"]["rows"]
               if r["set"] == set_name and r["protocol"] == "A")
    train, tests = pq.sstem_data(set_name)
    assert len(train) == row["train_slices"] and len(tests) == row["test_slices"]
    got = pq.score([b for b, _ in tests], tests)["psnr_per_image"]
    np.testing.assert_allclose(got, row["per_image"]["input"], atol=1e-4)


@needs_data
def test_training_pairs_are_finetune_part_a_ones():
    set_name = "em_drosophila_vnc_sstem_gerhard2013"
    train, _ = pq.sstem_data(set_name, crop=96, test=1)
    files = ft.splits.files("em", set_name, "train")
    for i, (index, (blurred, sharp)) in enumerate(zip(ft.SSTEM[set_name][0], train,
                                                      strict=True)):
        expected = ft.centre(ft.splits.load(files[index], rgb=False), 96)
        np.testing.assert_array_equal(sharp, expected)
        np.testing.assert_array_equal(blurred, pq.degrade_a(expected, 100 + i))


@needs_data
def test_our_row_fine_tunes_the_em_default_and_scores_every_test_slice():
    train, tests = pq.sstem_data("em_drosophila_vnc_sstem_gerhard2013", crop=128, test=2)
    row = pq.ours(train, tests, 0.02, "test")
    assert row["start"] == ft.bundled.default_for_modality("em", rgb=False)
    assert row["finetune"]["steps"] >= 1
    assert len(row["psnr_per_image"]) == 2 and np.isfinite(row["psnr"])
    assert 0 < row["ssim"] <= 1


def test_a_peer_environment_without_careamics_is_refused_in_one_message(tmp_path):
    image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    with pytest.raises(SystemExit, match="--peer-python"):
        pq.peer([(image, image)], [(image, image)], 0.01, sys.executable, 1)


def test_table_names_the_best_classical_method():
    fig = {"psnr": 20.0, "ssim": 0.5}
    row = {"set": "s", "input": fig, "richardson_lucy": {"psnr": 21.0, "ssim": 0.6},
           "wiener": {"psnr": 22.5, "ssim": 0.7}, "ours": {"psnr": 23.0, "ssim": 0.8},
           "peer": {"psnr": 19.0, "ssim": 0.4}}
    line = pq.table([row]).splitlines()[-1]
    assert "22.50 / 0.700 (Wiener)" in line
    assert line.endswith("| 23.00 / 0.800 | 19.00 / 0.400 |")


def test_table_merges_a_later_control_run_of_the_same_set():
    fig = {"psnr": 20.0, "ssim": 0.5}
    first = {"set": "s", "input": fig, "richardson_lucy": fig, "wiener": fig, "ours": fig,
             "peer": {**fig, "minutes": 5}}
    later = {"set": "s", "input": fig,
             "peer_control_no_early_stopping": {"psnr": 24.0, "ssim": 0.9, "minutes": 20}}
    lines = pq.table([first, later]).splitlines()
    assert len(lines) == 3 and "CARE control, no early stopping" in lines[0]
    assert lines[2].endswith("| 20.00 / 0.500 (5 min) | 24.00 / 0.900 (20 min) |")
    assert pq.table([later]).splitlines()[2] == "| s | 20.00 / 0.500 | - | 24.00 / 0.900 (20 min) |"
