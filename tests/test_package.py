"""Package boundaries: importing the package or the core pulls in no GUI; the manifest is valid."""

import json
import subprocess
import sys

import pytest

GUI_MODULES = ("qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "napari", "magicgui", "superqt")

# One fresh interpreter for the import checks and the manifest (each had its own, paying for
# Python, torch and napari again): sys.modules is listed after each step. A step only adds
# modules, so each check sees at least what it saw alone: the package, then the sample data
# (both checked for torch) before the CLI and core, which import torch; the GUI check of the
# CLI and core sees the sample data's modules too. Then npe2 checks the manifest as
# `npe2 validate napari-microdeblur --imports` does (the same two calls).
_CHILD = """
import json, sys
steps = {}
import napari_microdeblur
steps["package"] = sorted(sys.modules)
from napari_microdeblur._sample_data import make_nuclei_pair; make_nuclei_pair()
steps["sample_data"] = sorted(sys.modules)
import napari_microdeblur.cli, napari_microdeblur.core.inference, napari_microdeblur.core.tiling
import napari_microdeblur.core.io, napari_microdeblur.core.metrics
import napari_microdeblur.core.classical, napari_microdeblur.core.degrade
import napari_microdeblur.core.psf
steps["core_and_cli"] = sorted(sys.modules)
try:
    from npe2 import PluginManifest
    PluginManifest._from_package_or_name("napari-microdeblur").validate_imports()
    steps["manifest"] = "valid"
except Exception as error:  # as the npe2 command: any error is an invalid manifest
    steps["manifest"] = f"{type(error).__name__}: {error}"
print(json.dumps(steps))
"""


@pytest.fixture(scope="module")
def fresh_process() -> dict:
    done = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_package_import_is_light(fresh_process):
    mods = set(fresh_process["package"])
    assert "torch" not in mods
    assert not mods & set(GUI_MODULES)


def test_core_and_cli_import_no_gui(fresh_process):
    mods = fresh_process["core_and_cli"]
    assert not {m.split('.')[0] for m in mods} & set(GUI_MODULES)


def test_sample_data_is_numpy_only(fresh_process):
    assert "torch" not in fresh_process["sample_data"]


def test_manifest_validates_with_imports(fresh_process):
    assert fresh_process["manifest"] == "valid"


def test_sample_pair_opens_in_a_viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-microdeblur", "nuclei_pair")
    names = [layer.name for layer in viewer.layers]
    assert names == ["nuclei sharp (ground truth)", "nuclei blurred (protocol A)"]
    assert viewer.layers[0].data.shape == viewer.layers[1].data.shape == (256, 256)


def test_ci_runs_the_readme_test_commands_with_one_package_list():
    from pathlib import Path

    root = Path(__file__).parents[1]
    readme = (root / "README.md").read_text()
    ci = (root / ".ci" / "run").read_text()
    install = "apt-get install -y $(cat .ci/apt-packages.txt)"
    test = 'pip install torch==2.13.0 && pip install -e ".[testing]" && python -m pytest -q -n 2'
    assert install in readme and install in ci
    assert test in readme and ci.rstrip().endswith(test)
    packages = (root / ".ci" / "apt-packages.txt").read_text().split()
    # the platform plugin of Qt 6.5+ needs xcb-cursor; xinerama was the one the README lacked
    assert {"xvfb", "libxcb-cursor0", "libxcb-xinerama0"} <= set(packages)


def test_missing_qt_library_stops_pytest_with_one_line(tmp_path):
    """An unloadable libxcb-cursor.so.0 (an empty file first on the library path) stands in for
    the package not being installed: pytest must stop with the package's name, not abort."""
    import os
    from pathlib import Path

    (tmp_path / "libxcb-cursor.so.0").write_bytes(b"")
    (tmp_path / "test_gui.py").write_text("def test_gui(qtbot):\n    pass\n")
    conftest = Path(__file__).with_name("conftest.py")
    (tmp_path / "conftest.py").write_text(conftest.read_text())
    env = dict(os.environ, LD_LIBRARY_PATH=str(tmp_path), PYTEST_QT_API="pyqt6")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 4, out
    assert "Fatal Python error" not in out
    assert "libxcb-cursor.so.0 is missing: Debian package libxcb-cursor0" in out


def test_readme_tables_are_generated_from_the_committed_results():
    """The quality and watch-rate tables in README.md are what benchmarks/readme_tables.py
    renders from benchmarks/results/*.json (each with its command, commit and machine)."""
    import json
    from pathlib import Path

    root = Path(__file__).parents[1]
    sys.path.insert(0, str(root / "benchmarks"))
    try:
        import readme_tables
    finally:
        sys.path.pop(0)
    readme = (root / "README.md").read_text()
    for name in readme_tables.TABLES:
        assert f"<!-- readme_tables:{name} begin -->" in readme
    used = (*readme_tables.QUALITY_FILES, "watch_rate.json")
    results = [p for p in (root / "benchmarks" / "results").glob("*.json") if p.name in used]
    assert {p.name for p in results} >= {"quality_fluo.json", "quality_hist.json",
                                         "watch_rate.json"}
    for path in results:
        provenance = json.loads(path.read_text())["provenance"]
        assert provenance["command"].startswith("python benchmarks/")
        assert len(provenance["commit"]) == 40 and provenance["machine"]["cpu_count"]
    assert readme_tables.render(readme) == readme, "run python benchmarks/readme_tables.py --write"
    for path, text in readme_tables.markdown_copies().items():
        assert path.read_text() == text, f"{path.name}: run benchmarks/readme_tables.py --write"
