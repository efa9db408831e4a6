"""How long napari's event loop stalls when a layer opened from a TIFF with 41 MB of OME-XML
(3300 planes of 8 x 8 px, 28000 annotations) is chosen in the Deblur dock for the first time:
the largest gap of a 5 ms QTimer from the choice until the dock shows the file's axes (TYX),
and the time spent inside the choice itself. Run under a display (``xvfb-run -a``).
``--no-helper``: the header read in napari's process (a worker thread), as a frozen app does,
not by the helper process (``_header_reads.in_helper_process``).

    xvfb-run -a python benchmarks/header_read_stall.py \
        --json benchmarks/results/header_read_stall.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from provenance import write_json  # noqa: E402
from test_ome_large_xml_2026_12_09 import _ome_xml  # noqa: E402


def _settle(app, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)


def measure(path: Path, helper: bool = True) -> dict:
    import napari
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    from napari_microdeblur._widgets import _header_reads

    if not helper:  # as where no helper process can run (a frozen app)
        _header_reads.in_helper_process = lambda key: None

    viewer = napari.Viewer(show=False)
    app = QApplication.instance()
    try:
        small = viewer.add_image(np.zeros((3300, 8, 8), np.uint8), name="small")
        _, dock = viewer.window.add_plugin_dock_widget("napari-microdeblur", "Deblur")
        dock.set_method("richardson_lucy")
        layer = viewer.open(str(path), plugin="napari")[0]
        dock.layer_combo.set_value(small)
        _settle(app, 0.5)
        ticks: list[float] = []
        timer = QTimer()
        timer.setInterval(5)
        timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
        timer.start()
        _settle(app, 0.1)
        start = time.perf_counter()
        dock.layer_combo.set_value(layer)
        in_call = time.perf_counter() - start
        while dock.axes_edit.text() != "TYX" and time.perf_counter() - start < 60:
            app.processEvents()
            time.sleep(0.002)
        shown = time.perf_counter() - start
        _settle(app, 0.1)
        timer.stop()
        gaps = np.diff([t for t in ticks if t >= start - 0.05])
        return {"helper_process": helper, "choice_s": round(in_call, 3),
                "longest_stall_s": round(float(gaps.max()), 3),
                "file_axes_shown_after_s": round(shown, 3),
                "file_axes_shown": dock.axes_edit.text() == "TYX"}
    finally:
        viewer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--no-helper", action="store_true",
                        help="read the header in this process (a worker thread)")
    args = parser.parse_args()
    import tifffile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.ome.tif"
        tifffile.imwrite(path, np.zeros((3300, 8, 8), np.uint8), contiguous=True, metadata=None,
                         description=_ome_xml(3300, 28000, names=("GFP",)).encode())
        row = measure(path, helper=not args.no_helper)
    print(row)
    if args.json:
        write_json(args.json, [row])


if __name__ == "__main__":
    main()
