"""README walk of 2026-12-06: what README.md says about the CLI, the Python API, the files of
the repository and the defaults, checked against the code. (test_readme_examples_2026_12_04
covers the one-line errors for corrupt TIFFs and psf-from-beads' help; test_package the CI
commands and the generated tables.) Each test reads README.md as it is now, so a README edit
that drifts from the code fails here."""

from __future__ import annotations

import argparse
import configparser
import inspect
import json
import re
from pathlib import Path

import pytest

from napari_microdeblur.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+")


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions
                  if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings}


def _paragraph(start: str, end: str) -> str:
    i = README.index(start)
    return README[i:README.index(end, i)]


def _readme_commands() -> list[tuple[str, str]]:
    """(subcommand, the rest of its line) for every `microdeblur SUB ...` in README.md, with
    shell line continuations joined."""
    text = README.replace("\\\n", " ")
    subs = "|".join(sorted(map(re.escape, _subparsers()), key=len, reverse=True))
    return re.findall(rf"microdeblur ({subs})\b([^`#\n]*)", text)


def test_every_option_on_a_readme_command_line_exists():
    parsers = _subparsers()
    missing = [(sub, opt) for sub, rest in _readme_commands()
               for opt in OPTION.findall(rest) if opt not in _options(parsers[sub])]
    assert len(_readme_commands()) > 30  # the parse found the README's commands
    assert missing == []


@pytest.mark.parametrize("sub, start, end", [
    ("deblur", "`deblur` options:", "Every command has `--help`"),
    ("focus", "`microdeblur focus IMAGE", "`microdeblur watch IN_DIR"),
    ("watch", "`microdeblur watch IN_DIR", "<!-- readme_tables:watch_rate begin"),
    ("evaluate", "`evaluate` prints PSNR and SSIM", "## Python"),
])
def test_every_option_a_readme_paragraph_names_exists(sub, start, end):
    others = "|".join(map(re.escape, set(_subparsers()) - {sub}))
    # a span such as `watch --calibrate GOOD_DIR` is about another command
    text = re.sub(rf"`(?:microdeblur )?(?:{others}) [^`]*`", "", _paragraph(start, end))
    named = set(OPTION.findall(text))
    assert named, "the paragraph names options"
    assert named - _options(_subparsers()[sub]) == set()


def test_deblur_option_choices_are_the_readme_lists():
    """`--window cosine|gaussian|constant` and the like: the README's lists are the choices."""
    text = _paragraph("`deblur` options:", "Every command has `--help`")
    actions = {s: a for a in _subparsers()["deblur"]._actions for s in a.option_strings}
    listed = dict(re.findall(r"`(--[a-z-]+) ([\w.]+(?:\|[\w.]+)+)`", text))
    assert {"--window", "--output-dtype", "--precision", "--modality"} <= set(listed)
    for opt, values in listed.items():
        if actions[opt].choices is not None:
            assert set(values.split("|")) == set(actions[opt].choices), opt


def test_readme_method_list_names_methods_that_exist():
    from napari_microdeblur.core.bundled import BUNDLED_WEIGHTS
    from napari_microdeblur.core.method import CLASSICAL_METHODS

    names = re.search(r"`--method ([\w.]+(?:\|[\w.]+)+)`", README).group(1).split("|")
    known = {"auto", "ARCH"} | set(CLASSICAL_METHODS) | set(BUNDLED_WEIGHTS)
    assert set(names) - known == set()
    assert set(BUNDLED_WEIGHTS) <= set(names)  # every bundled name (gran.gan_em_v1 was left out)
    # and the blind v1/v2 networks the README lists are all there is of them
    blind = {n for n in BUNDLED_WEIGHTS if n.split(".")[0] in ("gran", "c2f_unet")
             and re.fullmatch(r"\w+\.\w+_v[12]", n) and "gan" not in n}
    assert blind <= set(names)


def test_cli_defaults_the_readme_states():
    parsers = _subparsers()

    def defaults(sub, *argv):
        return vars(parsers[sub].parse_args(list(argv)))

    deblur = defaults("deblur", "in.tif", "-o", "out.tif")
    assert {k: deblur[k] for k in ("method", "modality", "iterations", "balance", "window",
                                   "output_dtype", "precision", "device", "noise_scale")} == {
        "method": "auto", "modality": "auto", "iterations": "auto", "balance": "auto",
        "window": "cosine", "output_dtype": "float32", "precision": "auto", "device": "auto",
        "noise_scale": 1.0}
    watch = defaults("watch", "in", "out", "--threshold", "1")
    # README: percentile default 5, "at the CLI's defaults (`--settle 2 --poll 1`)"; an unset
    # --percentile is None (so it can be refused beside --threshold), 5 once checked
    from napari_microdeblur.cli_watch_options import DEFAULT_PERCENTILE

    assert (watch["percentile"], watch["settle"], watch["poll"]) == (None, 2, 1)
    assert DEFAULT_PERCENTILE == 5
    # --border unset is None (a default left alone narrows on a thin image), 16 once checked
    from napari_microdeblur.cli_evaluate import DEFAULT_BORDER

    assert defaults("evaluate", "x.tif", "--reference", "r.tif")["border"] is None
    assert DEFAULT_BORDER == 16
    tune = defaults("finetune", "--weights", "w", "--blurry", "b", "--sharp", "s", "--out", "o")
    assert (tune["val_fraction"], tune["min_gain"], tune["patience"]) == (0.2, 0.1, 5)
    assert tune["noise_scale_calibration"] == "before-and-after"
    assert tune["self_prior"] == "auto"


def test_finetune_time_and_step_defaults_the_readme_states():
    """README: a paired run stops after 5 minutes or 2000 steps at lr 1e-3; `finetune --self`
    after 3 minutes or 2000 steps, lr 1e-3; `train` runs 2000 steps."""
    from napari_microdeblur.core import job_defaults as d

    assert (d.PAIRED_MINUTES, d.PAIRED_STEPS, d.PAIRED_LR) == (5, 2000, 1e-3)
    assert (d.SELF_ADAPT_MINUTES, d.SELF_ADAPT_MAX_STEPS, d.SELF_ADAPT_LR) == (3, 2000, 1e-3)
    assert _subparsers()["train"].parse_args(["--arch", "gran", "--out", "o"]).steps == \
        d.TRAIN_STEPS == 2000


def test_python_deblur_signature_in_readme_matches_the_code():
    """README *Python*: `deblur(image, *, method, modality="auto", ...)`; the keywords are
    split_options' and iter_deblur's, with the same defaults."""
    from napari_microdeblur.core.inference import iter_deblur, split_options

    text = re.search(r"`deblur\(image, \*, method, (.*?)\)`", README, re.S).group(1)
    shown = dict(p.split("=", 1) for p in re.sub(r"\s+", "", text).split(","))
    code = {name: p.default for f in (split_options, iter_deblur)
            for name, p in inspect.signature(f).parameters.items()
            if p.default is not inspect.Parameter.empty and name != "method"}
    assert set(shown) == set(code)
    assert {k: eval(v) for k, v in shown.items()} == code  # noqa: S307 (literals from README)


def test_demo_prints_the_readme_block_in_form(capsys):
    """The block under "What `microdeblur demo` printed here": the same lines, the numbers
    aside (they depend on the machine)."""
    block = re.search(r"What `microdeblur demo` printed here[^\n]*\n\n```\n(.*?)```",
                      README, re.S).group(1)

    def form(text):
        return [" ".join(re.sub(r"[+-]?\d+(?:\.\d+)?", "#", line).split())
                for line in text.strip().splitlines()]

    assert main(["demo", "--device", "cpu"]) == 0
    assert form(capsys.readouterr().out) == form(block)


def _readme_paths() -> set[str]:
    tokens = set()
    for span in re.findall(r"`([^`]*)`", README.replace("\n", " ")):
        for tok in span.split():
            tok = tok.strip("(),;:'\"")
            if re.search(r"_[A-Z]\.", tok):  # a placeholder: quality_M.json for M = em ...
                continue
            if re.fullmatch(r"(\.ci|benchmarks|scripts|docs|tests|src|core|_widgets)/[\w./-]*"
                            r"\.(py|md|json|txt|tif|toml)|\.ci/run", tok):
                tokens.add(tok)
    tokens |= set(re.findall(r"\]\(((?!https?:|#)[^)#\s]+)", README))
    return tokens


def test_every_repository_path_the_readme_names_exists():
    paths = _readme_paths()
    assert len(paths) > 40
    missing = [p for p in sorted(paths) if not any(
        (base / p).exists() for base in (ROOT, ROOT / "src" / "napari_microdeblur"))]
    assert missing == []


def _slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_into_docs_point_at_headings_that_exist():
    links = re.findall(r"\]\(((?:docs|tests|src)/[^)#\s]+\.md)#([^)\s]+)\)", README)
    assert links
    for page, anchor in links:
        text = (ROOT / page).read_text(encoding="utf-8")
        assert anchor in {_slug(h.lstrip("#")) for h in re.findall(r"^#+ .*$", text, re.M)}, \
            f"{page}#{anchor}"


def test_see_below_and_above_name_sections_or_labels_of_the_readme():
    labels = {h.lstrip("#").strip().lower() for h in re.findall(r"^#+ .*$", README, re.M)}
    labels |= {b.strip().rstrip(".:").lower() for b in re.findall(r"\*\*([^*\n]+)\*\*", README)}
    refs = re.findall(r"\*([^*\n]{3,80})\* (?:below|above)", README)
    assert refs
    assert [r for r in refs if not any(r.lower() in label for label in labels)] == []


def _extras() -> dict[str, str]:
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    return dict(cfg["options.extras_require"])


def test_extras_table_is_setup_cfgs_extras():
    rows = _paragraph("| extra | adds |", "\n\n")
    table = dict(re.findall(r"^\| `(\w+)` \| (.*) \|$", rows, re.M))
    extras = _extras()
    assert set(table) == set(extras)
    for name, requirements in extras.items():
        row = table[name].lower()
        for line in filter(None, map(str.strip, requirements.splitlines())):
            package = re.sub(r"%\((\w+)\)s", r"\1", re.split(r"[<>=!; ]", line)[0])
            package = package.split("[")[0] if name != "all" else package
            assert package.lower().split("-ome-")[0] in row, (name, package)
    # the rows that are plain lists name nothing the extra lacks
    for name in ("testing", "distributed"):
        named = {w.strip().lower() for w in re.split(r",| and ", table[name])}
        assert {w for w in named if w not in extras[name].lower()} == set(), name


def test_install_requires_is_the_readme_list():
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    have = {re.split(r"[<>=!;\[ ]", line.strip())[0].lower()
            for line in cfg["options"]["install_requires"].splitlines() if line.strip()}
    said = re.search(r"`pip install -e \.` pulls (.*?), but no Qt", README,
                     re.S).group(1)
    named = {re.sub(r" \d+$", "", w.strip()).lower()
             for w in re.split(r",| and ", said.replace("\n", " ")) if w.strip()}
    assert named == have


def test_focus_json_per_tile_is_a_grid_of_scores(tmp_path, capsys):
    """README: `--json` prints `score` (2D) or `scores` (per slice); with `--tile` on a 2D image
    it is `scores` as rows of tiles (not said in the README; see the report)."""
    import numpy as np
    import tifffile

    image = np.random.default_rng(0).random((64, 96), dtype=np.float32) + 0.5
    tifffile.imwrite(tmp_path / "a.tif", image)
    assert main(["focus", str(tmp_path / "a.tif"), "--tile", "32", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "score" not in out and out["tile"] == 32
    assert [len(row) for row in out["scores"]] == [3, 3]


def test_auto_precision_on_cuda_without_bf16_is_float16(monkeypatch):
    """README: "`auto` uses bfloat16 on CPUs with bf16 units and on CUDA (float16 on GPUs
    without bfloat16 ...)": with no model given (GRAN gets float32 there)."""
    import torch

    from napari_microdeblur.core.method import auto_precision

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert auto_precision(torch.device("cuda")) == "float16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert auto_precision(torch.device("cuda")) == "bfloat16"


def test_default_overlap_is_twice_the_halo_as_how_tiling_works_says():
    """README *How tiling works*: "Default overlap: twice the network's halo; for
    Richardson-Lucy and Wiener twice the PSF half-size and at least 32 px". (Its *napari*
    section, the dock's tooltip and `deblur --help` say "the receptive field": see the report;
    the v2 networks' receptive field is 438 px, their default overlap 128.)"""
    from napari_microdeblur.core.checkpoint import load_model
    from napari_microdeblur.core.method import resolve_method

    gran = resolve_method("gran.em_v1")
    model, _ = load_model("gran.em_v1")
    assert gran.default_overlap == 2 * gran.halo == 2 * model.receptive_field
    v2 = resolve_method("c2f_unet.em_v2")
    model, card = load_model("c2f_unet.em_v2")
    assert v2.default_overlap == 2 * card.tiling["halo"] != model.receptive_field
    assert resolve_method("wiener", psf="gaussian:1.6", balance=0.01).default_overlap == 32
    assert resolve_method("wiener", psf="disk:30", balance=0.01).default_overlap == 2 * 30
