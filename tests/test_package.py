"""Package boundaries: importing the package or the core pulls in no GUI; the manifest is valid."""

import subprocess
import sys

GUI_MODULES = ("qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "napari", "magicgui", "superqt")


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_package_import_is_light():
    mods = _modules_after("import napari_microdeblur")
    assert "torch" not in mods
    assert not mods & set(GUI_MODULES)


def test_core_and_cli_import_no_gui():
    mods = _modules_after(
        "import napari_microdeblur.cli, napari_microdeblur.core.inference, "
        "napari_microdeblur.core.tiling, napari_microdeblur.core.io, "
        "napari_microdeblur.core.metrics, napari_microdeblur.core.classical, "
        "napari_microdeblur.core.degrade, napari_microdeblur.core.psf"
    )
    assert not {m.split('.')[0] for m in mods} & set(GUI_MODULES)


def test_sample_data_is_numpy_only():
    mods = _modules_after(
        "from napari_microdeblur._sample_data import make_nuclei_pair; make_nuclei_pair()"
    )
    assert "torch" not in mods


def test_manifest_validates_with_imports():
    done = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", "napari-microdeblur", "--imports"],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_sample_pair_opens_in_a_viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-microdeblur", "nuclei_pair")
    names = [layer.name for layer in viewer.layers]
    assert names == ["nuclei blurred (protocol A)", "nuclei sharp (ground truth)"]
    assert viewer.layers[0].data.shape == viewer.layers[1].data.shape == (256, 256)
