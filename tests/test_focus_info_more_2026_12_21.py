"""Ctrl-C or SIGTERM in `focus` and `info` on several files: --json printed nothing though the
files before it were scored (their lines were said without --json), and the interrupt line
said 'no partial output was left' of commands that write no file."""

import json

import numpy as np
import pytest
import tifffile

from napari_microdeblur import cli_focus, cli_info
from napari_microdeblur.cli import Terminated, main


def _stopping(function, calls: int, stop=KeyboardInterrupt):
    """``function``, raising ``stop`` on its call number ``calls`` (as Ctrl-C there would)."""
    count = [0]

    def wrapped(*args, **kwargs):
        count[0] += 1
        if count[0] == calls:
            raise stop
        return function(*args, **kwargs)

    return wrapped


@pytest.fixture
def many(tmp_path, monkeypatch):
    """A folder of four 64 x 64 images, the working folder its parent."""
    rng = np.random.default_rng(0)
    (tmp_path / "many").mkdir()
    for name in "abcd":
        tifffile.imwrite(tmp_path / "many" / f"{name}.tif",
                         rng.integers(0, 255, (64, 64), dtype=np.uint8))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "many"


def test_focus_json_interrupted_prints_the_files_scored_before_it(many, capsys, monkeypatch):
    monkeypatch.setattr(cli_focus, "_scores", _stopping(cli_focus._scores, 3))
    assert main(["focus", "many", "--tile", "32", "--json"]) == 130
    said = capsys.readouterr()
    scored = json.loads(said.out)  # the shape of a complete run's, only shorter
    assert [o["file"] for o in scored] == ["many/a.tif", "many/b.tif"]
    assert all(np.shape(o["scores"]) == (2, 2) and o["tile"] == 32 for o in scored)
    assert said.err == ("microdeblur: interrupted; 2 of 4 files scored, said above; focus "
                        "writes no file\n")


def test_focus_lines_interrupted_by_sigterm(many, capsys, monkeypatch):
    monkeypatch.setattr(cli_focus, "_scores", _stopping(cli_focus._scores, 2, Terminated))
    assert main(["focus", "many"]) == 143
    said = capsys.readouterr()
    assert said.out.startswith("many/a.tif: focus score ") and said.out.count("\n") == 1
    assert said.err == ("microdeblur: stopped by SIGTERM; 1 of 4 files scored, said above; "
                        "focus writes no file\n")


def test_focus_of_one_file_interrupted_says_it_writes_nothing(many, capsys, monkeypatch):
    monkeypatch.setattr(cli_focus, "_scores", _stopping(cli_focus._scores, 1))
    assert main(["focus", "--json", "many/a.tif"]) == 130
    said = capsys.readouterr()
    assert said.out == ""
    assert said.err == "microdeblur: interrupted; focus writes no file\n"


def test_focus_json_interrupted_at_its_first_file_prints_an_empty_list(many, capsys,
                                                                        monkeypatch):
    monkeypatch.setattr(cli_focus, "_scores", _stopping(cli_focus._scores, 1))
    assert main(["focus", "--json", "many"]) == 130
    said = capsys.readouterr()
    assert json.loads(said.out) == []
    assert said.err == "microdeblur: interrupted; 0 of 4 files scored; focus writes no file\n"


def test_info_json_interrupted_prints_the_files_described_before_it(many, capsys,
                                                                     monkeypatch):
    monkeypatch.setattr(cli_info, "describe", _stopping(cli_info.describe, 3))
    assert main(["info", "--json", "many"]) == 130
    said = capsys.readouterr()
    described = json.loads(said.out)
    assert [o["file"] for o in described] == ["many/a.tif", "many/b.tif"]
    assert all(o["shape"] == [64, 64] for o in described)
    assert said.err == ("microdeblur: interrupted; 2 of 4 files described, said above; info "
                        "writes no file\n")


def test_info_of_one_file_interrupted_says_it_writes_nothing(many, capsys, monkeypatch):
    monkeypatch.setattr(cli_info, "describe", _stopping(cli_info.describe, 1))
    assert main(["info", "many/a.tif"]) == 130
    said = capsys.readouterr()
    assert said.out == ""
    assert said.err == "microdeblur: interrupted; info writes no file\n"


def test_info_of_rgb_weights_names_their_colour_axis(capsys):
    """`info gran.hist_v1` (a GRAN trained on RGB H&E tiles, 3 input channels) said 'RGB images
    (YX)'; an RGB image's axes are YXS, as info names an RGB file's."""
    from napari_microdeblur.cli import main

    assert main(["info", "gran.hist_v1"]) == 0
    out = capsys.readouterr().out
    assert "  model card: gran (3->3 ch, 2D)\n" in out
    assert "  image type: brightfield and histology; RGB images (YXS)\n" in out
