"""What a contributor meets: a classical method added by name, benchmarks run on weights files,
the benchmark data folder, a new arch in model_size.py, and the layout in docs/architecture.md
naming every module (docs/contributing.md)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from _scripts import load_script

from napari_microdeblur.core import inference_settings, method
from napari_microdeblur.core.inference import deblur

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "napari_microdeblur"


def _with_classical_name(monkeypatch, name="toy_classical"):
    monkeypatch.setattr(method, "CLASSICAL_METHODS", method.CLASSICAL_METHODS + (name,))


def test_a_classical_name_without_its_recipe_is_refused_naming_what_to_add(monkeypatch):
    """It crashed with KeyError (check) or ran Wiener's code (classical_method)."""
    _with_classical_name(monkeypatch)
    spec = method.MethodSpec("toy_classical", psf="gaussian:1.6", balance=0.01)
    with pytest.raises(ValueError, match=r"CLASSICAL_RECIPES \(core/method.py\).*CLASSICAL_READS "
                       r"\(core/inference_settings.py\).*contributing.md"):
        spec.check()
    with pytest.raises(ValueError, match="CLASSICAL_RECIPES"):
        method.classical_method("toy_classical", "gaussian:1.6", balance=0.01)


def test_a_classical_method_added_as_contributing_md_says_runs(monkeypatch):
    """The three registrations of docs/contributing.md are enough: it runs its own code and is
    refused a setting it does not read."""
    _with_classical_name(monkeypatch)

    def build(kernel_t, *, iterations, balance, tv_weight):
        return (lambda x: 2 * x), {"balance": float(balance)}

    monkeypatch.setitem(method.CLASSICAL_RECIPES, "toy_classical", method.ClassicalRecipe(build))
    monkeypatch.setitem(inference_settings.CLASSICAL_READS, "toy_classical", ("balance",))
    image = np.random.default_rng(0).random((48, 40)).astype(np.float32) + 0.1
    out = deblur(image, method="toy_classical", psf="gaussian:1.6", balance=0.01, device="cpu")
    np.testing.assert_allclose(out, 2 * image, rtol=1e-5)
    with pytest.raises(ValueError, match=r"iterations=5 applies to richardson_lucy.*"
                       r"'toy_classical' \(which reads balance=\)"):
        deblur(image, method="toy_classical", psf="gaussian:1.6", iterations=5, device="cpu")


def test_richardson_lucy_and_wiener_keep_their_code_and_record():
    rl = method.classical_method("richardson_lucy", "gaussian:1.6", iterations=4, tv_weight=0.0)
    wiener = method.classical_method("wiener", "gaussian:1.6", balance=0.02)
    assert rl.parameters == {"psf": "gaussian:1.6", "iterations": 4, "tv_weight": 0.0}
    assert wiener.parameters == {"psf": "gaussian:1.6", "balance": 0.02}
    assert wiener.shift_invariant and not rl.shift_invariant
    import torch

    x = torch.rand(1, 1, 32, 32) + 0.1
    assert not torch.allclose(rl.forward(x), wiener.forward(x))


@pytest.fixture
def splits_module():
    return load_script("benchmarks/splits.py", "splits")


def test_quality_runs_a_weights_file(tiny_gran_weights):
    """--model FILE.safetensors failed: deblur(method=FILE) is refused ('give weights=')."""
    quality = load_script("benchmarks/quality.py", "quality")
    image = np.random.default_rng(1).random((40, 40)).astype(np.float32)
    out = quality.run_model(image, str(tiny_gran_weights), "YX")
    assert out.shape == image.shape and np.isfinite(out).all()


def test_splits_refuse_a_missing_data_folder_in_one_line(splits_module, monkeypatch, tmp_path):
    missing = tmp_path / "no_data"
    monkeypatch.setattr(splits_module, "SHARED", missing)
    monkeypatch.setenv("MICRODEBLUR_SHARED_DATA", str(missing))
    with pytest.raises(SystemExit) as refused:
        splits_module.check_data("em")
    text = str(refused.value)
    assert "\n" not in text and str(missing) in text and "MICRODEBLUR_SHARED_DATA" in text
    assert splits_module.files("em", "em_epfl_hippocampus_fibsem", "test") == []  # probes still


def test_splits_refuse_a_missing_set(splits_module, monkeypatch, tmp_path):
    (tmp_path / "em_epfl_hippocampus_fibsem" / "train").mkdir(parents=True)
    (tmp_path / "em_epfl_hippocampus_fibsem" / "train" / "0.png").write_bytes(b"")
    monkeypatch.setattr(splits_module, "SHARED", tmp_path)
    with pytest.raises(SystemExit, match=r"no test images of set 'em_epfl_hippocampus_fibsem' "
                       r"under .*MICRODEBLUR_SHARED_DATA"):
        splits_module.check_data("em")


def test_model_size_measures_an_arch_without_a_row(monkeypatch, capsys):
    """A registered arch without a row stopped it with a bare AssertionError."""
    model_size = load_script("benchmarks/model_size.py", "model_size")
    monkeypatch.setattr(model_size, "ROWS", [r for r in model_size.ROWS if r[0] == "gran"][:1])
    monkeypatch.setattr(model_size, "list_archs", lambda: ["c2f_unet", "gran"])
    rows = model_size.rows_to_measure()
    assert [(r[0], r[1]) for r in rows] == [("gran", "paper"), ("c2f_unet", "paper")]
    said = capsys.readouterr().err
    assert "no row for arch 'c2f_unet' in ROWS (benchmarks/model_size.py)" in said
    monkeypatch.setattr(model_size, "list_archs", lambda: ["c2f_unet"])
    with pytest.raises(SystemExit, match="ROWS names gran, not registered"):
        model_size.rows_to_measure()


# ------------------------------------------------------------------ the layout names every module

#: a module line of the layout: its indent (2: the package, 4: a folder's), its file name, text
LINE = re.compile(r"^( {2}| {4})([\w.]+\.py) +\S")


def layout_modules() -> set[str]:
    """The modules docs/architecture.md's layout names, as paths under the package."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = text.split("## The layout", 1)[1].split("```", 2)[1]
    folder, named = "", set()
    for line in block.splitlines():
        folder_line = re.match(r"^ {2}(\w+)/ ", line)
        if folder_line:
            folder = folder_line.group(1) + "/"
        if match := LINE.match(line):
            named.add(match.group(2) if len(match.group(1)) == 2 else folder + match.group(2))
    return named


def package_modules() -> set[str]:
    found = {p.name for p in PACKAGE.glob("cli_*.py")}
    for sub in ("core", "_widgets"):
        found |= {f"{sub}/{p.name}" for p in (PACKAGE / sub).glob("*.py")}
    return found


def test_the_layout_names_every_module_and_only_those():
    named = layout_modules()
    modules = package_modules()
    missing = sorted(modules - named)
    assert not missing, (f"docs/architecture.md's layout lacks a line for {missing}: add "
                         "'<4 spaces>NAME.py<spaces>what it holds' under core/ or _widgets/ "
                         "(2 spaces for cli_*.py)")
    checked = {m for m in named if m.startswith(("core/", "_widgets/", "cli_"))}
    assert not sorted(checked - modules), f"lines for modules that are gone: {checked - modules}"


def test_contributing_md_names_files_that_exist():
    text = (ROOT / "docs" / "contributing.md").read_text(encoding="utf-8")
    cited = set(re.findall(r"`((?:tests|benchmarks)/[\w/]+\.py)`", text))
    cited |= {f"src/napari_microdeblur/{p}" for p in re.findall(r"`(core/[\w/]+\.py)`", text)}
    assert len(cited) > 8
    assert not [c for c in sorted(cited) if not (ROOT / c).is_file()]
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert "slow:" in pyproject and "pytest.mark.slow" in text and "MICRODEBLUR_SHARED_DATA" in text
