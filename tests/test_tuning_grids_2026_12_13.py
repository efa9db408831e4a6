"""The tuned classical baselines: wide grids whose ends are not where the best setting hides,
a flag where a chosen value is an end of its grid, tuning crops spread over fields, the
README tables' mark, and validation planes that share no field with the training planes."""

from pathlib import Path

import numpy as np
import pytest
from _scripts import load_script
from scipy import ndimage

from napari_microdeblur.core import tuning

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def _blobs(seed: int, peak: int, side: int = 80) -> np.ndarray:
    """Dim fluorescence-like spots: under protocol B (Poisson, peak 200 photons on the 8-bit
    scale) few photons, so little deconvolution is best."""
    rng = np.random.default_rng(seed)
    img = np.zeros((side, side))
    img[tuple(rng.integers(0, side, (2, 30)))] = 1
    img = ndimage.gaussian_filter(img, 2.0)
    return (img / img.max() * peak + 5).astype(np.uint8)


def test_wide_grids_choose_inside_where_the_short_ones_stop_at_their_ends():
    """The reviewer's case in small: a noisy row where the short grids chose RL 5 and Wiener
    0.1, their ends; the wide grids find the better settings inside them."""
    images = [_blobs(i, peak=40) for i in range(2)]
    short = tuning.tune_classical(images, "B")
    assert (short["richardson_lucy"]["value"], short["wiener"]["value"]) == (5, 0.1)
    assert short["richardson_lucy"]["at_grid_edge"] and short["wiener"]["at_grid_edge"]
    wide = tuning.tune_classical(images, "B", rl_iterations=tuning.WIDE_RL_ITERATIONS,
                                 balances=tuning.WIDE_WIENER_BALANCES)
    for method, grid in (("richardson_lucy", tuning.WIDE_RL_ITERATIONS),
                         ("wiener", tuning.WIDE_WIENER_BALANCES)):
        value = wide[method]["value"]
        assert min(grid) < value < max(grid) and not wide[method]["at_grid_edge"], method
        assert wide[method]["psnr"][value] > short[method]["psnr"][short[method]["value"]] + 0.3
    assert wide["richardson_lucy"]["value"] < 5 and wide["wiener"]["value"] > 0.1


def test_the_flag_is_set_when_the_best_value_is_an_end():
    images = [_blobs(i, peak=40) for i in range(2)]  # best near RL 3, Wiener 0.5
    tuned = tuning.tune_classical(images, "B", rl_iterations=(10, 20, 30),
                                  balances=(0.01, 0.5, 100.0))
    assert tuned["richardson_lucy"]["value"] == 10 and tuned["richardson_lucy"]["at_grid_edge"]
    assert tuned["wiener"]["value"] == 0.5 and not tuned["wiener"]["at_grid_edge"]
    with pytest.raises(ValueError, match="grid is empty"):
        tuning.tune_classical(images, "B", rl_iterations=())


def test_at_grid_edge_and_the_grids():
    assert tuning.at_grid_edge(5, tuning.RL_ITERATIONS)
    assert tuning.at_grid_edge(0.1, tuning.WIENER_BALANCES)
    assert not tuning.at_grid_edge(5, tuning.WIDE_RL_ITERATIONS)
    assert not tuning.at_grid_edge(0.1, tuning.WIDE_WIENER_BALANCES)
    # the wide grids hold the short ones (microdeblur demo keeps those) and reach past both ends
    for short, wide in ((tuning.RL_ITERATIONS, tuning.WIDE_RL_ITERATIONS),
                        (tuning.WIENER_BALANCES, tuning.WIDE_WIENER_BALANCES)):
        assert set(short) < set(wide) and min(wide) < min(short) and max(wide) > max(short)
        assert list(wide) == sorted(wide)


def test_tuning_files_take_one_file_per_field_spread_over_the_split():
    quality = load_script("benchmarks/quality.py", "quality_grids_test")
    fly = Path("fluorescence_2d/cellprofiler_ExampleFly_kc167")
    speckles = Path("fluorescence_2d/cellprofiler_ExampleSpeckles_h2ax")
    fluo = [fly / f"01_POS{p}_{c}.TIF" for p in ("002", "076") for c in "DFR"] + [
        speckles / "1-162hrh2ax2.tif", speckles / "1-162hrhoe2.tif"]
    picked = quality.tuning_files(fluo, 3)
    assert [p.name for p in picked] == ["01_POS002_D.TIF", "01_POS076_D.TIF", "1-162hrh2ax2.tif"]
    epfl = [Path(f"train/training{i:04d}.png") for i in (0, 1, 2, 3, 45, 46, 61, 161, 162, 164)]
    assert [p.name for p in quality.tuning_files(epfl, 3)] == [
        "training0000.png", "training0045.png", "training0164.png"]
    isbi = [Path(f"train/{i}.png") for i in range(30)]  # natural order, not 0, 1, 10, 11
    assert [p.name for p in quality.tuning_files(isbi, 3)] == ["0.png", "14.png", "29.png"]
    kather = Path("histology_brightfield_rgb/kather2016_crc_he_tiles")
    tiles = [kather / f"0{c}_CLASS" / f"t{t}.tif" for c in range(1, 9) for t in (1, 2)]
    assert len({p.parent for p in quality.tuning_files(tiles, 3)}) == 3
    assert quality.tuning_files(fluo[:2], 3) == fluo[:1]  # one field: one file


def test_readme_tables_mark_a_value_at_a_grid_end(monkeypatch):
    tables = load_script("benchmarks/readme_tables.py", "readme_tables_grids_test")
    cell = {"psnr": 30.0, "ssim": 0.9, "psnr_whole": 30.0, "ssim_whole": 0.9, "images": 2}
    rows = [{"set": "s", "protocol": "B", "method": "degraded input", **cell},
            {"set": "s", "protocol": "B", "method": "richardson_lucy (3)", **cell,
             "at_grid_edge": False},
            {"set": "s", "protocol": "B", "method": "wiener (100)", **cell, "at_grid_edge": True}]
    run = {"results": rows, "provenance": {
        "command": "c", "commit": "abcdef0", "tree_differs_from_commit": False,
        "date_utc": "d", "machine": {"cpu": "x", "cpu_count": 2, "torch": "t"}}}
    monkeypatch.setattr(tables, "_load", lambda name: run if name == "quality_em.json" else None)
    text = tables.quality_table()
    assert "balance 100 [grid end]" in text and "3 it. |" in text
    assert text.count(tables.EDGE.strip()) == 2  # the mark and its legend


@pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data")
def test_psf_aware_validation_shares_no_field_or_slice_cluster_with_training():
    """PROVENANCE: channels of one field and EPFL's near-identical neighbours stay together."""
    data = load_script("scripts/psf_aware_data.py", "psf_aware_data_grids_test")
    files, val_names = data.training_files(DATA)
    names = [path.name for entries in files.values() for path, _ in entries]
    groups = ([f"01_POS076_{c}.TIF" for c in "DFR"],
              [f"training{i:04d}.png" for i in range(161, 165)])
    for group in groups:
        assert set(group) <= set(names)
        assert len({name in val_names for name in group}) == 1, group  # all or none validated
