"""Review of the background header reads: a helper process's answer is found among other
printed lines; a thread waiting for another one's read of the same header gives up after a
bound (Run must not hang on a stuck reader); a worker thread never touches the process-wide
warning filters (``warnings.catch_warnings`` is not thread-safe)."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import tifffile
from test_ome_large_xml_2026_12_09 import _ome_xml

from napari_microdeblur._widgets import _header_reads, _layer_file


def _big_ome(path):
    tifffile.imwrite(path, np.zeros((1200, 8, 8), np.uint8), contiguous=True, metadata=None,
                     description=_ome_xml(1200, 6000, names=("GFP",)).encode())
    return path


def test_the_helper_process_answer_is_found_among_other_printed_lines(tmp_path, monkeypatch):
    path = _big_ome(tmp_path / "big.ome.tif")
    key = _layer_file._file_key(path)
    assert _header_reads._description_length(str(path)) >= _header_reads._LONG_DESCRIPTION
    # as a sitecustomize that prints would: a line before the answer
    monkeypatch.setattr(_header_reads, "_CHILD", "print('hello from sitecustomize')\n"
                        + _header_reads._CHILD)
    header = _header_reads.in_helper_process(key)
    assert header is not None and header[0] == "TYX" and header[1] == (1200, 8, 8)


def test_a_wait_for_another_reader_is_bounded(tmp_path, monkeypatch):
    path = tmp_path / "small.tif"
    tifffile.imwrite(path, np.zeros((16, 16), np.uint8), imagej=True,
                     resolution=(10.0, 10.0), metadata={"axes": "YX", "unit": "um"})
    key = _layer_file._file_key(path)
    monkeypatch.setattr(_layer_file, "WAIT_FOR_READER_S", 0.2, raising=False)
    stuck = threading.Event()  # a reader that never finishes
    monkeypatch.setitem(_layer_file._READING, key, stuck)
    answers = []
    thread = threading.Thread(target=lambda: answers.append(_layer_file.read_header(key)),
                              daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive() and answers[0][0] == "YX"


def test_a_worker_reading_a_tiff_header_leaves_the_warning_filters_alone(tmp_path, monkeypatch):
    path = tmp_path / "small.tif"
    tifffile.imwrite(path, np.zeros((16, 16), np.uint8))
    key = _layer_file._file_key(path)
    touched = []
    real = warnings.catch_warnings

    def watched(*args, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            touched.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(warnings, "catch_warnings", watched)
    thread = threading.Thread(target=_layer_file.read_header, args=(key,))
    thread.start()
    thread.join(30)
    assert touched == []
