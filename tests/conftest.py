import atexit
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

# the Fine-tune dock keeps each run's weights in the user's cache: not the real one in tests;
# the folder is removed when the tests end (each run left ~35 kB of weights in /tmp)
if "MICRODEBLUR_FINETUNED_DIR" not in os.environ:
    os.environ["MICRODEBLUR_FINETUNED_DIR"] = tempfile.mkdtemp(
        prefix="microdeblur-finetuned-tests-")
    atexit.register(shutil.rmtree, os.environ["MICRODEBLUR_FINETUNED_DIR"], ignore_errors=True)



@pytest.fixture(autouse=True)
def own_kept_folder(tmp_path_factory, monkeypatch):
    """Each test its own kept folder: the docks offer the fine-tunes kept there (as a user's
    next session does), so one test's kept run was a valid base model in the next test."""
    monkeypatch.setenv("MICRODEBLUR_FINETUNED_DIR", str(tmp_path_factory.mktemp("kept")))


# Tests use tiny tensors: one thread avoids thread start-up and contention costs that make
# small convolutions ~100x slower on a busy 2-core machine.
torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _one_thread_in_the_processes_tests_start():
    """The processes the tests start (the CLI, a training run) take one thread too, as 6 test
    files gave theirs by hand: with two, a killed training run's child ran ~1.5x the CPU
    time, the second thread taking the core of the other pytest-xdist worker. Set here, not
    at import, so that it reaches only the test processes' children: pytest-xdist's workers
    start their BLAS and OpenMP as before (a fixture runs in them, never in the controller)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")


DATA = Path(__file__).parent / "data"
APT_LIST = ".ci/apt-packages.txt"
GUI_FIXTURES = {"qtbot", "qapp", "make_napari_viewer", "make_napari_viewer_proxy"}
# start a QApplication the way pytest-qt will (same binding, PYTEST_QT_API honoured)
_QT_PROBE = (
    "from pytestqt.qt_compat import qt_api; qt_api.set_qt_api(None); "
    "qt_api.QtWidgets.QApplication([])"
)


def qt_platform_problem() -> str | None:
    """None when Qt can start a QApplication here, else one line naming what to install.

    Run in a subprocess because a missing platform plugin makes Qt abort the whole process."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
            or os.environ.get("QT_QPA_PLATFORM")):
        return (f"no display for Qt: install xvfb (listed in {APT_LIST}) so pytest-xvfb can "
                f"start one: sudo apt-get install -y $(cat {APT_LIST})")
    env = dict(os.environ, QT_DEBUG_PLUGINS="1")
    probe = subprocess.run([sys.executable, "-c", _QT_PROBE], env=env, capture_output=True,
                           text=True, timeout=120)
    if probe.returncode == 0:
        return None
    missing = re.findall(r"Cannot load library [^:]+: (?:\S*/)?(lib[\w.+-]+?\.so[.\d]*):",
                         probe.stderr)
    what = ""
    if missing:
        library = missing[-1]
        stem = library.split(".so")[0].lower()
        # Debian names a library package after its soname: libxcb-cursor.so.0 -> libxcb-cursor0
        major = library.split(".so")[1].lstrip(".").split(".")[0]
        package = stem + ("-" if stem[-1].isdigit() else "") + major
        what = f" ({library} is missing: Debian package {package})"
    return (f"Qt cannot start its platform plugin{what}: install the system packages in "
            f"{APT_LIST}: sudo apt-get install -y $(cat {APT_LIST})")


def _plugin_manifests_read_once():
    """npe2 reads the installed plugins' manifests once per test process.

    make_napari_viewer clears napari's plugin set-up before each viewer, and each viewer then
    re-read and re-validated every manifest on the path (~0.1 s a GUI test) only for npe2 to
    drop them as already registered. The manifests read are the same files each time, so the
    first reading is handed back; napari still registers them on each test's own app model."""
    from npe2 import PluginManifest

    read = PluginManifest.discover.__func__
    found = {}

    def discover_once(cls, paths=()):
        key = tuple(paths)
        if key not in found:
            found[key] = list(read(cls, paths=paths))
        return iter(found[key])

    PluginManifest.discover = classmethod(discover_once)


def _napari_settings_in_memory():
    """napari's settings without a file: make_napari_viewer resets them around each GUI test,
    and each reset wrote the user's ~/.config/napari settings.yaml (~0.05 s a test). The
    plugin reads no napari setting; napari's own tests keep their settings in memory too."""
    from napari import settings

    if settings._SETTINGS is None:
        settings.get_settings(path=None)


def pytest_collection_finish(session):
    """Stop with one line, not Qt's 'Fatal Python error: Aborted', when GUI tests cannot run.

    Also reads napari's plugin manifests once and keeps its settings in memory (the two
    helpers above), and freezes what the imports made: napari runs a full gc.collect() each
    time a viewer's layers are removed (once per GUI test's teardown), and the ~300k objects
    torch, napari and the test modules leave behind made each of those take 0.3-0.7 s.
    Objects the tests create are still collected, so napari's leak checks see what they saw
    before."""
    _plugin_manifests_read_once()
    _napari_settings_in_memory()
    gc.collect()
    gc.freeze()
    if not any(GUI_FIXTURES & set(getattr(item, "fixturenames", ()))
               for item in session.items):
        return
    problem = qt_platform_problem()
    if problem:
        pytest.exit(problem, returncode=pytest.ExitCode.USAGE_ERROR)


def pytest_runtest_setup(item):
    """Before each GUI test, collect and freeze what earlier tests left alive.

    napari's full gc.collect() at a viewer's teardown scans every unfrozen object, and what
    2,500 tests leave behind (caches, modules imported lazily) made that teardown take ~0.75 s
    late in the suite against ~0.17 s in a file run alone. Garbage is collected first, so only
    objects still reachable are frozen; nothing a test creates escapes napari's leak checks."""
    if GUI_FIXTURES & set(getattr(item, "fixturenames", ())):
        gc.collect()
        gc.freeze()


def load(name: str) -> np.ndarray:
    import tifffile

    return tifffile.imread(DATA / name)


@pytest.fixture(scope="session")
def fluo_u8() -> np.ndarray:
    """128 x 128 uint8 HT29 nuclei (CC-0), see tests/data/README.md."""
    return load("fluo_ht29_dna_u8.tif")


@pytest.fixture(scope="session")
def fluo_u16() -> np.ndarray:
    """96 x 96 uint16 DSB2018 nuclei (CC0)."""
    return load("fluo_dsb2018_nuclei_u16.tif")


@pytest.fixture(scope="session")
def he_rgb() -> np.ndarray:
    """96 x 96 x 3 uint8 H&E tile (CC BY 4.0)."""
    return load("he_kather_tumor_rgb_u8.tif")


@pytest.fixture(scope="session")
def focus_stack() -> np.ndarray:
    """14 x 96 x 96 uint16 light-sheet focus stack (MIT), in focus at plane 7."""
    return load("lightsheet_mito_focus_stack_u16.tif")


@pytest.fixture(autouse=True)
def _no_worker_outlives_its_test(request):
    """A GUI test's background workers finish before the next test starts: napari's workers
    share Qt's global thread pool (as many threads as CPU cores), and one still running from
    an earlier test made a later test's weights load wait past its timeout on a 2-core
    machine."""
    yield
    if not GUI_FIXTURES & set(request.fixturenames):
        return
    from qtpy.QtCore import QThreadPool
    from qtpy.QtWidgets import QApplication

    pool = QThreadPool.globalInstance()
    for _ in range(600):  # up to 60 s, letting finished workers deliver their signals
        if pool.activeThreadCount() == 0:
            return
        QApplication.processEvents()
        pool.waitForDone(100)
    pytest.fail(f"{pool.activeThreadCount()} background worker(s) still running 60 s after "
                "the test ended: stop them (close the dock or quit the worker) in the test")


@pytest.fixture
def tiny_gran_weights(tmp_path):
    """A GRAN of its tiny config with random weights, saved as a .safetensors with its card."""
    import torch

    from napari_microdeblur.core import registry, weights

    torch.manual_seed(0)
    model = registry.build_model("gran", registry.get_arch("gran").tiny_config)
    path = tmp_path / "tiny_gran.safetensors"
    weights.save_weights(model, path, {"arch": "gran", "config": model.config.model_dump(),
                                       "in_channels": 1, "out_channels": 1,
                                       "license": "BSD-3-Clause",
                                       "training_data": "none: random weights for a test"})
    return path


@pytest.fixture(scope="module")
def client():
    """A dask.distributed client of an in-process cluster of two single-thread workers, for
    the cluster tests of one module (skipped without dask.distributed)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as local, \
            distributed.Client(local) as client:
        yield client


@pytest.fixture
def pids():
    """(pid of a process that has ended, pid of one that runs): temporaries named for each
    are stale and live on this host."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield dead.pid, live.pid
    live.kill()
    live.wait()


@pytest.fixture
def slow_reads(monkeypatch):
    """The TIFF header reader takes _slow_header.SLOW_S (a huge OME-XML); its calls, by thread."""
    import threading
    import time

    from _slow_header import SLOW_S

    from napari_microdeblur.core import tiff_header

    read = tiff_header.read_tiff_header
    threads = []

    def slow_read(path, *args, **kwargs):
        threads.append(threading.current_thread())
        time.sleep(SLOW_S)
        return read(path, *args, **kwargs)

    monkeypatch.setattr(tiff_header, "read_tiff_header", slow_read)
    return threads
