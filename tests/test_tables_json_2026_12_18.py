"""README figures with JSON behind them (review of 2026-12-18): readme_tables.py split under the
600-line limit, the classical-agreement and CLI-memory tables rendered from
benchmarks/results/, and both benchmarks writing their JSON with its provenance."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from _scripts import load_script  # noqa: E402

PROVENANCE = {"command": "python benchmarks/x.py", "commit": "0123456789abcdef",
              "tree_differs_from_commit": False, "date_utc": "2026-12-18 10:00",
              "machine": {"cpu": "test CPU", "cpu_count": 2, "torch": "2.0"}}


@pytest.fixture
def tables():
    return load_script("benchmarks/readme_tables.py", "readme_tables_json_test")


def _block(name: str) -> str:
    readme = (ROOT / "README.md").read_text()
    begin, end = f"<!-- readme_tables:{name} begin -->\n", f"<!-- readme_tables:{name} end -->"
    assert begin in readme and end in readme, f"README.md lacks the {name} markers"
    return readme.split(begin, 1)[1].split(end, 1)[0]


def test_readme_tables_fits_the_line_limit_and_keeps_its_renderers(tables):
    assert len((ROOT / "benchmarks/readme_tables.py").read_text().splitlines()) <= 600
    for name in ("finetune", "model_size", "self_adapt_prior", "psf_aware_colour",
                 "classical_agreement", "cli_memory"):
        assert name in tables.TABLES


def test_agreement_table_is_the_json(tables):
    run = json.loads((ROOT / "benchmarks/results/classical_agreement.json").read_text())
    assert run["provenance"]["command"].startswith("python benchmarks/classical_agreement.py")
    em = run["results"]["images"]["em_epfl_fibsem"]
    text = _block("classical_agreement")
    assert text == tables.classical_agreement_text()
    diff = em["skimage"]["richardson_lucy"]["agreement_with_ours"]["interior_max_abs"]
    row = next(line for line in text.splitlines() if line.startswith("| EPFL FIB-SEM (EM) | Ri"))
    assert f"{diff:.1e}".replace("e-0", "e-") in row
    assert f"{em['skimage']['richardson_lucy']['psnr_whole']:.2f} |" in row


def test_cli_memory_table_has_one_row_per_json(tables, tmp_path, monkeypatch):
    result = {"image": [64, 4096, 4096], "input_dtype": "uint16", "output_dtype": "float32",
              "input_bytes": 2 * 2**30, "output_bytes": 4 * 2**30, "method": "wiener",
              "psf": "gaussian:1.6", "iterations": None, "tile": 512, "seconds": 99.4,
              "peak_rss_mb": 426.2}
    (tmp_path / "cli_memory_wiener.json").write_text(
        json.dumps({"provenance": PROVENANCE, "results": result}))
    monkeypatch.setattr(tables, "RESULTS", tmp_path)
    lines = tables.cli_memory_text().splitlines()
    assert lines[2] == ("| 64 x 4096 x 4096 uint16 ZYX stack (2 GB) to float32 (4 GB) | Wiener, "
                        "Gaussian 1.6, tile 512 | **426 MB** (99 s) |")
    assert "`benchmarks/results/cli_memory_wiener.json`: `python benchmarks/x.py`" in lines[-1]
    assert _block("cli_memory") == load_script("benchmarks/readme_tables.py",
                                               "readme_tables_json_fresh").cli_memory_text()


def test_cli_memory_check_names_the_missing_json(tables, tmp_path, monkeypatch, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("<!-- readme_tables:cli_memory begin -->\nold\n"
                      "<!-- readme_tables:cli_memory end -->\n")
    monkeypatch.setattr(tables, "README", readme)
    monkeypatch.setattr(tables, "RESULTS", tmp_path)
    assert tables.main(["--check"]) == 1
    assert "benchmarks/results/cli_memory_*.json is missing" in capsys.readouterr().err


@pytest.mark.skipif(not (ROOT.parent / "shared/data/em_epfl_hippocampus_fibsem").exists(),
                    reason="the EPFL FIB-SEM data is not under shared/data")
def test_classical_agreement_writes_json_with_provenance(tmp_path, capsys):
    bench = load_script("benchmarks/classical_agreement.py", "classical_agreement_json_test")
    out = tmp_path / "agreement.json"
    assert bench.main(["--size", "64", "--images", "em_epfl_fibsem", "--json", str(out)]) == 0
    run = json.loads(out.read_text())
    assert {"command", "commit", "machine"} <= set(run["provenance"])
    assert run["results"] == json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("method", ["richardson_lucy", "wiener"])
def test_cli_memory_writes_json_with_provenance(method, tmp_path, capsys):
    """Wiener too: the CLI refuses --iterations for it, which cli_memory used to pass."""
    bench = load_script("benchmarks/cli_memory.py", "cli_memory_json_test")
    out = tmp_path / "memory.json"
    bench.main(["--size", "128", "--iterations", "1", "--method", method,
                "--workdir", str(tmp_path / "work"), "--json", str(out)])
    run = json.loads(out.read_text())
    assert run["provenance"]["command"].startswith("python ")
    assert run["results"] == json.loads(capsys.readouterr().out)
    assert run["results"]["image"] == [128, 128] and run["results"]["method"] == method
