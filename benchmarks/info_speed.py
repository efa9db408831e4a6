"""Time ``microdeblur info`` (``cli_info.describe``) on a contiguous OME-TIFF with a ~41 MB
OME-XML header (16 x 256 x 256 uint16 and 125,000 comment annotations), best of 3, and count
how often the file is opened (it was opened twice, parsing the header twice).

    python benchmarks/info_speed.py --json benchmarks/results/info_speed.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import write_json  # noqa: E402

from napari_microdeblur import cli_info  # noqa: E402


def write_big_ome(path: Path) -> None:
    data = np.arange(16 * 256 * 256, dtype=np.uint16).reshape(16, 256, 256)
    tifffile.imwrite(path, data, ome=True, metadata={"axes": "ZYX", "PhysicalSizeX": 0.1,
                                                     "PhysicalSizeY": 0.1, "PhysicalSizeZ": 0.3})
    with tifffile.TiffFile(path) as tif:
        xml = tif.pages[0].description
    notes = "".join(f'<CommentAnnotation ID="Annotation:{i}"><Value>{"x" * 300}</Value>'
                    "</CommentAnnotation>" for i in range(125_000))
    xml = xml.replace("</OME>", f"<StructuredAnnotations>{notes}</StructuredAnnotations></OME>")
    tifffile.imwrite(path, data, description=xml, metadata=None)


def measure(path: Path, repeats: int = 3) -> dict:
    opened = []
    original = tifffile.TiffFile.__init__

    def counting(self, *args, **kwargs):
        opened.append(1)
        original(self, *args, **kwargs)

    tifffile.TiffFile.__init__ = counting
    try:
        times = []
        for _ in range(repeats):
            opened.clear()
            start = time.perf_counter()
            info = cli_info.describe(str(path))
            times.append(time.perf_counter() - start)
    finally:
        tifffile.TiffFile.__init__ = original
    return {"file_mb": round(path.stat().st_size / 1e6, 1),
            "describe_s": [round(t, 3) for t in times], "best_s": round(min(times), 3),
            "tifffile_opens": len(opened), "shape": info["shape"], "axes": info["axes"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big_ome.ome.tif"
        write_big_ome(path)
        row = measure(path)
    print(row)
    if args.json:
        write_json(args.json, [row])


if __name__ == "__main__":
    main()
