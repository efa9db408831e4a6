"""Pieces of benchmarks/papers.py: training splits only, the no-reference blur match, tables."""

from pathlib import Path

import numpy as np
import pytest
from _scripts import load_script
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    return load_script(str(path.relative_to(ROOT)), name)


papers = _load("papers", ROOT / "benchmarks" / "papers.py")


@pytest.mark.skipif(not papers.EPFL.is_dir(), reason="../shared/data is not here")
def test_trains_on_training_splits_and_scores_on_test_splits():
    train, val = papers.em_training_files()
    assert train and len(val) == 4
    assert all(f.parent.name == "train" for f in train + val)
    assert not {f.name for f in train} & {f.name for f in val}
    tests = [papers.SHARED / s / f for s, files in papers.EM_TESTS.items() for f in files]
    assert all(f.parent.name == "test" or f.parent.parent.name == "test" for f in tests)
    assert all(f.is_file() for f in train + val + tests)


def test_sharpness_falls_with_blur():
    image = np.random.default_rng(0).random((96, 96))
    values = [papers.sharpness(ndimage.gaussian_filter(image, s)) for s in (0.5, 2, 8)]
    assert values[0] > values[1] > values[2]


def _scores(psnr):
    return {"psnr": psnr, "psnr_whole": psnr - 0.5, "ssim": 0.5, "per_image": []}


def test_markdown_reports_each_part():
    run = {"steps": 10, "minutes": 1.0, "kept": "last step"}
    sgpn = {"labelled_images": 3, "unlabelled_images": 27, "test_images": 10, "crop": 256,
            "margin_db": 0.75, "runs": {"semi_supervised": run, "supervised": run},
            "scores": {"input": _scores(20.0), "supervised": _scores(22.0),
                       "semi_supervised": _scores(22.75)}}
    text = papers.markdown_part("sgpn", sgpn)
    assert "+0.75 dB" in text and "| SGPN, semi-supervised | 22.75 | 22.25 |" in text
    row = {"set": "s", "defocus": "+0.3 um", "gaussian_sigma": 1.5, "methods": {
        k: {"psnr": 30.0, "ssim": 0.7} for k in ("input", "richardson_lucy", "wiener", "net")}}
    text = papers.markdown_part("c2f", {"network": "net", "scoring": "x", "rows": [row]})
    assert "| s | +0.3 um | 1.5 | 30.00 / 0.700 |" in text
    psf = {"case": "2d_gaussian", "steps_done": 5, "fwhm_true_px": [3.7, 3.7],
           "fwhm_learned_px": [3.8, 3.6], "fwhm_error_pct": 2.7, "ncc": 0.97, "psnr_input": 21,
           "psnr_rl_learned_psf": 23, "psnr_rl_true_psf": 23.1, "meets_targets": False}
    text = papers.markdown_part("psf", {"figure": "F", "targets": "T", "rows": [psf]})
    assert ("| 2d_gaussian | 5 | 3.70x3.70 / 3.80x3.60 | 2.7 % | 0.970 | 21.00 | 23.00 | 23.10 "
            "| no |") in text


@pytest.mark.parametrize("budget", [["--minutes", "0"], ["--steps", "0"]])
def test_refuses_a_budget_of_nothing(budget):
    with pytest.raises(SystemExit):
        papers.main(["--part", "c2f", *budget])
