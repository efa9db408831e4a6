"""What a user learns from --help alone (walkthrough "helpaudit"): demo --json is one JSON
object with fixed keys, the --psf examples survive a narrow terminal, an unknown option
names the subcommand's help, watch refuses a tile too small before it starts, and every
option of every subcommand says what it does."""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

import pytest

from napari_microdeblur.cli import build_parser, main
from napari_microdeblur.core.psf import parse_psf

SAMPLES = Path(__file__).parents[1] / "src" / "napari_microdeblur" / "samples"


def test_demo_json_is_one_object_with_fixed_keys(capsys):
    assert main(["demo", "--device", "cpu", "--json", "--balance", "0.01",
                 "--iterations", "5"]) == 0
    demo = json.loads(capsys.readouterr().out)  # the whole of stdout: no table before it
    assert demo["sample"] == "ht29_nuclei_hoechst.tif" and demo["protocol"] == "A"
    assert demo["border"] == 16 and demo["tuned_on"] is None  # both settings given
    rows = demo["rows"]
    assert [r["row"] for r in rows[:3]] == ["degraded", "wiener", "richardson_lucy"]
    assert {r["row"] for r in rows[3:]} <= {"network", "auto_psf"}
    for row in rows:
        assert {"label", "method", "psnr", "ssim", "psnr_whole", "seconds",
                "gain_db"} <= set(row)
    assert rows[1]["balance"] == 0.01 and rows[2]["iterations"] == 5
    assert rows[1]["tuned"] is False and rows[0]["gain_db"] == 0
    assert rows[1]["gain_db"] == pytest.approx(rows[1]["psnr"] - rows[0]["psnr"])


#: a model PSF written out in full: lower-case keys and numbers, no placeholder (SIGMA, ...)
_EXAMPLE = re.compile(r"\b(?:gaussian|disk|astig|widefield|confocal):(?=[a-z0-9])"
                      r"[^\s\"'\[\]]+")


def _help(command: str, capsys, monkeypatch, columns: int) -> str:
    monkeypatch.setenv("COLUMNS", str(columns))
    with pytest.raises(SystemExit):
        main([command, "--help"])
    return capsys.readouterr().out


@pytest.mark.parametrize("command", ["deblur", "watch", "finetune"])
def test_psf_examples_copied_from_a_narrow_help_parse(command, capsys, monkeypatch):
    """argparse wrapped the --psf help inside words ('wavelengt' / 'h=0.52') at 60 columns."""
    text = _help(command, capsys, monkeypatch, 60)
    examples = [part.rstrip(",.;)") for token in _EXAMPLE.findall(text)
                for part in token.split(";") if part]
    examples = [e for e in examples if "..." not in e and not re.search("[A-Z]", e)]
    assert any(e.startswith("widefield:") for e in examples), text
    for example in examples:
        kernel = parse_psf(example)
        assert kernel.sum() == pytest.approx(1, abs=1e-4), example


@pytest.mark.parametrize("argv", [["deblur", "a.tif", "-o", "b.tif"], ["watch", "in", "out"],
                                  ["demo"], ["degrade", "a.tif", "-o", "b.tif", "--protocol",
                                             "A"]])
def test_unknown_option_names_the_subcommands_help(argv, capsys):
    command = argv[0]
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--bogus"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--bogus" in err
    assert err.endswith(f"(see microdeblur {command} --help)")


def test_watch_refuses_a_tile_too_small_before_watching(tmp_path, capsys):
    watched, out = tmp_path / "in", tmp_path / "out"
    watched.mkdir()
    out.mkdir()
    shutil.copy(SAMPLES / "ht29_nuclei_hoechst_protocolA.tif", watched)
    code = main(["watch", str(watched), str(out), "--once", "--threshold", "0.1",
                 "--tile", "64"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "--tile 64 is smaller than the receptive field" in err and "at least" in err
    assert list(out.iterdir()) == []  # refused before the log or any file was written
    # a tile that holds the method's reach (Wiener with a small PSF) is not refused
    assert main(["watch", str(watched), str(out), "--once", "--threshold", "0.1", "--tile",
                 "64", "--method", "wiener", "--psf", "gaussian:1.6", "-q"]) == 0
    assert (out / "microdeblur_watch.csv").is_file()


def _subcommands(parser: argparse.ArgumentParser) -> dict:
    # argparse lists a parser's actions and subparsers only under private names
    return next(a.choices for a in parser._actions
                if isinstance(a.choices, dict) and a.choices)


def test_every_option_of_every_subcommand_has_help():
    missing = []
    for name, sub in _subcommands(build_parser()).items():
        for action in sub._actions:
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
            else:
                sub._get_formatter()._expand_help(action)  # a stray % fails here
    assert missing == []
    helps = {name: {a.dest: a.help for a in sub._actions}
             for name, sub in _subcommands(build_parser()).items()}
    for command in ("train", "finetune"):
        assert helps[command]["steps"].startswith("training steps")
        assert "steps" not in helps[command]["lr"].replace("--steps", "")
    assert "microdeblur methods" in helps["deblur"]["method"]
    assert "microdeblur methods" in helps["finetune"]["weights"]
    assert "astig:" in helps["finetune"]["psf"] and "estimate" in helps["finetune"]["psf"]
