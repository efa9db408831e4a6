"""README tables generated from the benchmark results committed under benchmarks/results/.

Each table sits in README.md between ``<!-- readme_tables:NAME begin -->`` and
``<!-- readme_tables:NAME end -->``; this script renders it from the JSON files (each holds
the command, commit and machine of its run, see provenance.py) and

    python benchmarks/readme_tables.py           # prints every table
    python benchmarks/readme_tables.py --write   # replaces them in README.md
    python benchmarks/readme_tables.py --check   # exit 1 when README.md differs (tested)

--write and --check also cover the Markdown copies of some results (``MARKDOWN_COPIES``:
benchmarks/results/NAME.md beside NAME.json), which went stale when parts of a run were merged
into its JSON by hand.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # its sibling modules, run as a script or not
import readme_tables_networks as _nets  # noqa: E402
from readme_tables_networks import provenance_line as _provenance_line  # noqa: E402
from readme_tables_networks import score as _score  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
QUALITY_FILES = ("quality_em.json", "quality_fluo.json", "quality_hist.json")
EDGE = " [grid end]"  # a tuned value at an end of its grid (the JSON's ``at_grid_edge``)
EDGE_LEGEND = ("[grid end]: the tuned value is the smallest or largest of its grid, so the best "
               "setting may lie beyond it; values without it lie inside their grids.")


_NOT_FOUND: list[str] = []  # the JSON files _load looked for and did not find (for --check)


def _load(name: str) -> dict | None:
    path = RESULTS / name
    if not path.exists():
        _NOT_FOUND.append(name)
        return None
    return json.loads(path.read_text())


def _with_load(make):
    """A renderer of readme_tables_networks that reads through this module's ``_load``, looked
    up at each call (tests patch it, or RESULTS)."""
    def render() -> str | None:
        return make(lambda name: _load(name))

    render.__name__, render.__doc__ = make.__name__, make.__doc__
    return render


finetune_text, finetune_recipes_text, finetune_regularisers_text = (
    _with_load(_nets.finetune_text), _with_load(_nets.finetune_recipes_text),
    _with_load(_nets.finetune_regularisers_text))
self_adapt_prior_text, self_adapt_psf_aware_text = (
    _with_load(_nets.self_adapt_prior_text), _with_load(_nets.self_adapt_psf_aware_text))
train_step_layout_text, model_size_text = (
    _with_load(_nets.train_step_layout_text), _with_load(_nets.model_size_text))
psf_aware_colour_text, psf_aware_chroma_text = (
    _with_load(_nets.psf_aware_colour_text), _with_load(_nets.psf_aware_chroma_text))


def _cell(row: dict) -> str:
    return (f"{row['psnr']:.2f} / {row['ssim']:.3f} "
            f"({row['psnr_whole']:.2f} / {row['ssim_whole']:.3f})")


def quality_table() -> str | None:
    """Per set and protocol: degraded input, tuned RL and Wiener (true PSF), default network;
    border-excluded PSNR / SSIM with the whole-image figures in brackets."""
    runs = [(name, run) for name in QUALITY_FILES if (run := _load(name))]
    if not runs:
        return None
    lines = [
        "| set | protocol | images | degraded input | Richardson-Lucy (true PSF, tuned) "
        "| Wiener (true PSF, tuned) | default network | network - best classical |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for _, run in runs:
        groups: dict[tuple, dict[str, dict]] = {}
        for row in run["results"]:
            groups.setdefault((row["set"], row["protocol"]), {})[row["method"]] = row
        for (set_name, protocol), rows in sorted(groups.items(), key=lambda kv: (kv[0][1],)):
            degraded = rows["degraded input"]
            rl = next(r for m, r in rows.items() if m.startswith("richardson_lucy"))
            wiener = next(r for m, r in rows.items() if m.startswith("wiener"))
            nets = [r for m, r in rows.items()
                    if not m.startswith(("richardson_lucy", "wiener", "degraded"))]
            net_cell, lead = "", ""
            for net in nets[:1]:
                net_cell = f"{_cell(net)} ({net['method']})"
                lead = f"{net['psnr'] - max(rl['psnr'], wiener['psnr']):+.2f} dB"
            rl_it, balance = (re.search(r"\((.*)\)", r["method"]).group(1)
                              + (EDGE if r.get("at_grid_edge") else "") for r in (rl, wiener))
            lines.append(
                f"| {set_name} | {protocol} | {degraded['images']} | {_cell(degraded)} | "
                f"{_cell(rl)} {rl_it} it. | {_cell(wiener)} balance {balance} | {net_cell} | "
                f"{lead} |")
    return "\n".join(lines) + "\n\n" + EDGE_LEGEND + " " + _provenance_line(runs) + ".\n"


def watch_rate_text() -> str | None:
    run = _load("watch_rate.json")
    if not run:
        return None
    r = run["results"]
    wording = {"cli defaults": "the CLI's defaults", "faster": "a faster setting"}
    paced = "; ".join(
        f"at {wording.get(label, label)} (`--settle {p['settle_s']:g} --poll {p['poll_s']:g}`) "
        f"{p['processed']} "
        f"were done {p['latency_s_median']} s (median) and at most {p['latency_s_max']} s "
        "after they were written"
        for label, p in r["paced"].items())
    return (
        f"How fast it keeps up (`--method {r['method']}`): {r['files']} tiles of 2048 x 2048 "
        f"8-bit EM (ISBI 2012 test volume), {r['soft_files']} of them out of focus "
        f"(protocol A), went through in {r['backlog_seconds']} s, i.e. "
        f"{r['files_per_minute']} tiles per minute, {r['decisions_correct']} keep/deblur "
        "decisions right, with the threshold (0.8 x the 5th percentile of six sharp tiles) "
        "calibrated on the training volume, other fields than the ones watched; a deblurred "
        f"tile takes {r['seconds_per_deblurred_file']} s, a copied one "
        f"{r['seconds_per_copied_file']} s. Written at {r['paced_files_per_minute']:g} tiles "
        f"per minute while watch ran: {paced}.\n\n"
        + _provenance_line([("watch_rate.json", run)]) + ".\n"
    )


def _gen_cell(m: dict, key: str) -> str:
    c = m.get(key)
    return f"{c['psnr']:.2f} / {c['ssim']:.3f} ({c['psnr_whole']:.2f})" if c else "-"


def _generalization_row(row: dict) -> str:
    """One row of the cross-dataset table: its best tuned classical method is the bar."""
    m = row["methods"]
    best = max(("richardson_lucy", "wiener"), key=lambda k: m[k]["psnr"])
    t, edge = row["tuned"], row["tuned"].get("at_grid_edge", {})
    setting = (f"RL {t['richardson_lucy_iterations']} it." if best == "richardson_lucy"
               else f"Wiener {t['wiener_balance']:g}") + (EDGE if edge.get(best) else "")
    b = m[best]
    # SSIM against the better classical SSIM (as generalization.md): the PSNR winner's alone
    # hid an SSIM loss to the other method (BBBC006: RL's 0.799 above the network's 0.792)
    best_ssim = max(m["richardson_lucy"]["ssim"], m["wiener"]["ssim"])
    return (
        f"| {row['modality']} | {row['set']} | {row['degradation']} | "
        f"{_gen_cell(m, 'input')} | {_gen_cell(m, best)} {setting} | "
        f"{_gen_cell(m, 'blind')} `{row['blind_default']}` | {_gen_cell(m, 'blind_v2')} "
        f"`{row['blind_network']}` | {_gen_cell(m, 'blind_v1')} | "
        f"{_gen_cell(m, 'psf_aware')} | {m['psf_aware']['psnr'] - b['psnr']:+.2f} dB, SSIM "
        f"{m['psf_aware']['ssim'] - best_ssim:+.3f} | "
        f"{_gen_cell(m, 'psf_aware_tuned')} ({t['psf_aware_noise_scale']:g}"
        f"{EDGE if edge.get('psf_aware') else ''}) | "
        f"{m['psf_aware_tuned']['psnr'] - b['psnr']:+.2f} dB, SSIM "
        f"{m['psf_aware_tuned']['ssim'] - best_ssim:+.3f} | "
        f"{m['blind']['psnr'] - b['psnr']:+.2f} dB | {_gen_cell(m, 'psf_aware_estimated')} | "
        f"{m['psf_aware_estimated']['psnr'] - b['psnr']:+.2f} dB, SSIM "
        f"{m['psf_aware_estimated']['ssim'] - best_ssim:+.3f} | "
        f"{m['blind']['below_input']} / {m['psf_aware']['below_input']} / "
        f"{m['psf_aware_tuned']['below_input']} / "
        f"{m['psf_aware_estimated']['below_input']} of {m['input']['n']} |")


def generalization_table() -> str | None:
    """The cross-dataset table (benchmarks/generalization.py) and what it shows, counted."""
    run = _load("generalization.json")
    if not run:
        return None
    lines = [
        "| modality | set | degradation | input | best tuned RL / Wiener (true PSF) | "
        "blind default | blind network v2 | blind v1 | PSF-aware | PSF-aware - best classical | "
        "PSF-aware, noise scale tuned (scale) | tuned - best classical | "
        "blind default - best classical | PSF-aware, PSF estimated from the image | estimated - "
        "best classical | below input (blind default / PSF-aware / tuned / estimated) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    synthetic = [r for r in run["rows"] if "real" not in r["modality"]]
    lines += [_generalization_row(row) for row in run["rows"]]

    def gap(row, key):
        m = row["methods"]
        return m[key]["psnr"] - max(m["richardson_lucy"]["psnr"], m["wiener"]["psnr"])

    aware_ok = sum(gap(r, "psf_aware") >= 0.5 for r in synthetic)
    tuned_ok = sum(gap(r, "psf_aware_tuned") >= 0.5 for r in synthetic)
    real = [r for r in run["rows"] if "real" in r["modality"]]
    real_below = {k: sum(r["methods"][k]["below_input"] for r in real)
                  for k in ("psf_aware", "psf_aware_tuned")}
    n_real = sum(r["methods"]["input"]["n"] for r in real)
    a_rows = [r for r in synthetic if r["degradation"] == "A"]
    blind_close = sum(gap(r, "blind") >= -1.0 for r in a_rows)
    blind_below = sum(r["methods"]["blind"]["below_input"] for r in run["rows"])
    network_close = sum(gap(r, "blind_v2") >= -1.0 for r in a_rows)
    network_below = sum(r["methods"]["blind_v2"]["below_input"] for r in run["rows"])
    estimated_close = sum(gap(r, "psf_aware_estimated") >= -1.0 for r in a_rows)
    estimated_below = {kind: sum(r["methods"]["psf_aware_estimated"]["below_input"] for r in rows)
                       for kind, rows in (("synthetic", synthetic), ("real", real))}
    n_synthetic = sum(r["methods"]["input"]["n"] for r in synthetic)
    aware_below = sum(r["methods"]["psf_aware"]["below_input"] for r in synthetic)
    n_images = sum(r["methods"]["input"]["n"] for r in run["rows"])
    lines += [
        "", f"Counted from the rows above: the PSF-aware network is at least +0.5 dB over the best "
        f"tuned classical result on {aware_ok} of {len(synthetic)} synthetic rows at its "
        f"default noise scale and on {tuned_ok} with it tuned, and below the input on "
        f"{aware_below} synthetic images; on the {n_real} real-defocus images it is below the "
        f"input on {real_below['psf_aware']} at its default and {real_below['psf_aware_tuned']} "
        "tuned; the blind default (what `--modality` runs without a PSF) is within 1.0 dB of "
        f"the true-PSF baseline under protocol A on {blind_close} of {len(a_rows)} sets and "
        f"below the input on {blind_below} of the {n_images} images of all rows (the blind v2 "
        f"networks alone: {network_close} of {len(a_rows)}, and {network_below} images below "
        "the input). Given no PSF, the PSF-aware network with the PSF estimated from the image "
        f"(`--psf estimate`) is within 1.0 dB of the true-PSF baseline under protocol A on "
        f"{estimated_close} of {len(a_rows)} sets, and below the input on "
        f"{estimated_below['synthetic']} of the {n_synthetic} synthetic images and "
        f"{estimated_below['real']} of the {n_real} real-defocus images.",
        "", EDGE_LEGEND + " "
        f"Generated by `python benchmarks/readme_tables.py --write` from "
        f"`benchmarks/results/generalization.json`: `{run['command']}` at commit "
        f"`{run['git_commit']}`{_differs(run)}, {run['machine']}, {run['minutes']} min"
        + "".join(_merged_part(m) for m in run.get("merged", [])) + ".",
    ]
    return "\n".join(lines) + "\n"


def _differs(run: dict) -> str:
    """', tree differing from it' (with what differed, where the JSON says) or ''."""
    if not run.get("tree_differs_from_commit"):
        return ""
    return ", tree differing from it" + (f" ({run['tree_note']})" if run.get("tree_note") else "")


def _merged_part(m: dict) -> str:
    """A part run on its own and merged into generalization.json (its --merge-into)."""
    return (f"; the rows of {', '.join(m['groups'])} merged in from `{m['command']}` at commit "
            f"`{m['git_commit']}`{_differs(m)}, {m['machine']}, {m['minutes']} min")


def papers_text(part: str):
    """The figure of one part of benchmarks/papers.py (the papers' own experiments)."""
    def make() -> str | None:
        run = _load("papers.json")
        if not run or part not in run["parts"]:
            return None
        sys.path.insert(0, str(Path(__file__).parent))
        from papers import markdown_part  # imports torch: only when the table is made

        entry = run["parts"][part]
        return (markdown_part(part, entry["results"]) + "\n"
                + _provenance_line([("papers.json", entry)]) + ".\n")
    return make


def generalization_papers_text() -> str | None:
    """The papers' other shipped weights on the cross-dataset rows (generalization.py)."""
    run = _load("generalization.json")
    if not run:
        return None
    sys.path.insert(0, str(Path(__file__).parent))
    from generalization import papers_markdown  # imports torch: only when the table is made

    lines = papers_markdown(run["rows"])[3:]  # without its lead-in line
    if not lines:
        return None
    return ("\n".join(lines) + "\n\nGenerated by `python benchmarks/readme_tables.py --write` "
            "from `benchmarks/results/generalization.json` (the run above).\n")


def psf3d_auto_text() -> str | None:
    """benchmarks/psf3d_auto.py: what 'auto' runs for a z-stack given a 3D PSF."""
    run = _load("psf3d_auto.json")
    if not run:
        return None
    res = run["results"]
    lines = ["| volume | 3D PSF | noise | input | PSF-aware network, plane by plane | "
             "3D Richardson-Lucy, 30 it. (`auto` before the held-out check) | `auto` now | "
             "3D Richardson-Lucy, best (oracle) | 3D Wiener, best (oracle) | "
             "tried: psf_v4 on 3D Wiener estimates |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        cells = [_score(r[k]) for k in ("input", "psf_aware_planes", "rl_3d_default")]
        auto = r["auto"]
        cells.append(f"{_score(auto)} (" + ("the network" if auto.get("network")
                                           else f"3D RL, {auto['iterations']} it.") + ")")
        cells.append(f"{_score(r['rl_3d_best'])} ({r['rl_3d_best']['iterations']} it.)")
        cells.append(f"{_score(r['wiener_3d_best'])} (balance {r['wiener_3d_best']['balance']:g})")
        cells.append(_score(r["tried_3d_wiener_unet"]))
        lines.append(f"| {r['volume']} {tuple(r['shape'])} | {r['psf']} {tuple(r['psf_shape'])}, "
                     f"{100 * r['in_focus_share']:.0f} % in focus "
                     f"| {r['noise']} | " + " | ".join(cells) + " |")
    counts = "; ".join(
        f"{family}: " + ", ".join(f"{c['won']} of {c['cases']} on {v}" for v, c in per.items())
        for family, per in res["verdicts"].items())
    now = ", ".join(f"{c['won']} of {c['cases']} on {v}"
                    for v, c in res["auto_verdicts_widefield_like"].items())
    rule = (f"`auto` now (3D RL at the held-out count) above the network plane by plane, "
            f"widefield-like PSFs: {now}. "
            f"3D Richardson-Lucy at 30 it. above the network plane by plane, {counts}. Rule: "
            f"{res['rule']}: {'met' if res['switch_to_rl_3d'] else 'not met'} "
            f"({res['minutes']} min).")
    return ("\n".join(lines) + "\n\n" + rule + "\n\n"
            + _provenance_line([("psf3d_auto.json", run)]) + ".\n")


def classical_auto_text() -> str | None:
    """benchmarks/classical_auto.py: Richardson-Lucy's iterations 'auto' and Wiener's balance
    'auto' on the generalization rows, and the PSF-aware network beside them."""
    run = _load("classical_auto.json")
    if not run:
        return None
    res = run["results"]
    lines = ["| set | degradation | input | RL: 30 it. / tuned / hindsight best | RL `auto` (per "
             "image) | Wiener: 0.01 / tuned / hindsight best | Wiener `auto` (per image) | "
             "PSF-aware network | network - best tuned | network - best `auto` |",
             "|---|---|---|---|---|---|---|---|---|---|"]

    def settings(r: dict) -> str:
        return (f"{r['default']['psnr']:.2f} / {r['tuned']['psnr']:.2f} ({r['tuned']['value']:g})"
                f" / {r['oracle']['psnr']:.2f} ({r['oracle']['value']:g})")

    for r in res["rows"]:
        rl, wi = r["richardson_lucy"], r["wiener"]
        lines.append(
            f"| {r['set']} | {r['degradation']} | {_score(r['input'])} | {settings(rl)} | "
            f"{_score(rl['auto'])} ({', '.join(f'{v:g}' for v in rl['auto']['values'])}) | "
            f"{settings(wi)} | {_score(wi['auto'])} "
            f"({', '.join(f'{v:.2g}' for v in wi['auto']['values'])}) | {_score(r['psf_aware'])} "
            f"| {r['psf_aware_minus_best_tuned_db']:+.2f} dB | "
            f"{r['psf_aware_minus_best_auto_db']:+.2f} dB |")
    sm = res["summary"]
    parts = []
    for key, label in (("richardson_lucy", "RL `auto`"), ("wiener", "Wiener `auto`")):
        m = sm[key]
        gap = m["auto_minus_tuned_db"]
        parts.append(f"{label} at or above the tuned setting on {m['auto_at_or_above_tuned_rows']}"
                     f" of {sm['rows']} rows ({gap['min']:+.2f} to {gap['max']:+.2f} dB, mean "
                     f"{gap['mean']:+.2f}), at or above the hindsight best on "
                     f"{m['auto_at_or_above_oracle_rows']}")
    parts.append("the PSF-aware network at least 0.5 dB above the best tuned classical on "
                 f"{sm['psf_aware_at_least_0.5_db_over_best_tuned_rows']} of {sm['rows']} rows, "
                 "at least 0.5 dB above the best `auto` classical on "
                 f"{sm['psf_aware_at_least_0.5_db_over_best_auto_rows']}")
    return ("\n".join(lines) + "\n\n" + "; ".join(parts) + f" ({sm['minutes']} min). Hindsight "
            "best: the fixed setting best on the row's own test images (tuned on them).\n\n"
            + _provenance_line([("classical_auto.json", run)]) + ".\n")


PSF_CASES = {"2d_gaussian": "2D Gaussian sigma 1.5", "2d_astigmatic": "2D astigmatic 2.2 / 1.1 "
             "px, 30 deg", "3d_gaussian": "3D Gaussian (z 2.0, yx 1.2)"}


def papers_psf_text() -> str | None:
    """benchmarks/papers_psf.py: the PSF-CycleGAN's learned PSF against the true one."""
    run = _load("papers_psf.json")
    if not run:
        return None
    lines = ["| case | steps (min) | true FWHM (px) | learned FWHM (px) | FWHM error | NCC | RL "
             "PSNR: input / learned PSF / true PSF (dB) | targets met |",
             "|---|---|---|---|---|---|---|---|"]
    for r in run["rows"]:
        met = [name for name, ok in (("FWHM", r["fwhm_error_pct"] <= 10), ("NCC", r["ncc"] >= 0.95),
                                     ("RL", r["rl_gap_db"] <= 0.3)) if ok]
        missed = [n for n in ("FWHM", "NCC", "RL") if n not in met]
        verdict = ", ".join(met) if met else "none"
        if missed:
            verdict += "; not " + ", ".join(missed)
        lines.append(
            f"| {PSF_CASES.get(r['case'], r['case'])} | {r['steps_done']} "
            f"({r['train_seconds'] / 60:.1f}) | {', '.join(f'{v:.2f}' for v in r['fwhm_true_px'])} "
            f"| {', '.join(f'{v:.2f}' for v in r['fwhm_learned_px'])} | "
            f"{r['fwhm_error_pct']:.1f} % | {r['ncc']:.3f} | {r['psnr_input']:.2f} / "
            f"{r['psnr_rl_learned_psf']:.2f} / {r['psnr_rl_true_psf']:.2f} (gap "
            f"{r['rl_gap_db']:.2f}) | {verdict} |")
    kept = [f"the {PSF_CASES.get(r['case'], r['case'])} row comes from an earlier run, "
            f"`{r['from_run']['command']}` at commit `{r['from_run']['commit']}`"
            for r in run["rows"] if "from_run" in r]
    return ("\n".join(lines) + f"\n\nGenerated by `python benchmarks/readme_tables.py --write` "
            f"from `benchmarks/results/papers_psf.json`: `{run['command']}` at commit "
            f"`{run['commit']}`, {run['threads']} thread" + "".join(f"; {k}" for k in kept)
            + ".\n")


def batch_overhead_text() -> str | None:
    """benchmarks/batch_overhead.py: what each further file of a batch costs."""
    run = _load("batch_overhead.json")
    if not run:
        return None
    lines = ["| tile | method | before (s per further file) | now | startup and one file, now |",
             "|---|---|---|---|---|"]
    for r in run["results"]:
        before, now = r["baseline"], r["this checkout"]
        lines.append(f"| {r['size']} px | {r['method']} | {before['seconds_per_file']:.3f} | "
                     f"{now['seconds_per_file']:.3f} | {now['startup_and_one_file']:.2f} s |")
    est = run["estimate_psf_seconds_in_python"]
    return ("\n".join(lines) + f"\n\n`estimate_psf` alone in a plain Python process (as napari and "
            f"the Python API run it): {est['baseline']:.3f} s before, {est['this checkout']:.3f} "
            f"s now per 256-px image.\n\n" + _provenance_line([("batch_overhead.json", run)])
            + f"; before = commit `{run['baseline_commit'][:7]}`, timed alternately with it.\n")


def peers_quality_text() -> str | None:
    """Ours against CAREamics' CARE on the fine-tuning scenario (benchmarks/peers_quality.py)."""
    names = sorted(p.name for p in RESULTS.glob("peers_quality_*.json"))
    runs = [(name, _load(name)) for name in names]
    if not runs:
        return None
    sys.path.insert(0, str(Path(__file__).parent))
    from peers_quality import table

    rows = [row for _, run in runs for row in run["results"]["rows"]]
    return table(rows) + "\n" + _provenance_line(runs) + ".\n"


AGREEMENT_IMAGES = {"em_epfl_fibsem": "EPFL FIB-SEM (EM)", "fluo_ht29": "HT29 (fluorescence)"}


def classical_agreement_text() -> str | None:
    """benchmarks/classical_agreement.py: our Richardson-Lucy and Wiener against scikit-image's
    at the settings tuned on a training crop, and what excluding the border changes."""
    run = _load("classical_agreement.json")
    if not run:
        return None
    res = run["results"]
    lines = ["| test crop | method (tuned on the training crop) | max abs difference to "
             "scikit-image, interior | ours: PSNR interior / whole (dB) | scikit-image: PSNR "
             "interior / whole (dB) |", "|---|---|---|---|---|"]
    for name, im in res["images"].items():
        tuned = im["tuned_on_train"]
        for key, label, setting in (("richardson_lucy", "Richardson-Lucy", "rl_iterations"),
                                    ("wiener", "Wiener", "wiener_balance")):
            ours = tuned["test_rl" if key == "richardson_lucy" else "test_wiener"]
            sk, value = im["skimage"][key], tuned[setting]
            diff = f"{sk['agreement_with_ours']['interior_max_abs']:.1e}".replace("e-0", "e-")
            lines.append(
                f"| {AGREEMENT_IMAGES.get(name, name)} | {label}, "
                + (f"{value} it." if key == "richardson_lucy" else f"balance {value:g}")
                + f" | {diff} | {ours['psnr']:.2f} / "
                f"{ours['psnr_whole']:.2f} | {sk['psnr']:.2f} / {sk['psnr_whole']:.2f} |")
    return (f"Protocol {res['protocol']} (seed {res['seed']}) on 256 x 256 crops, "
            f"{res['border']}-px border excluded, differences on a [0, 1] scale; scikit-image's "
            "`richardson_lucy` does not pad and its `wiener` is circular.\n\n"
            + "\n".join(lines) + "\n\n" + _provenance_line([("classical_agreement.json", run)])
            + ".\n")


def _gb(n: int) -> str:
    return f"{n / 2**30:.1f}".removesuffix(".0") + " GB"


def cli_memory_text() -> str | None:
    """benchmarks/cli_memory.py: the CLI's peak RSS file to file, one JSON per run."""
    names = sorted(p.name for p in RESULTS.glob("cli_memory_*.json"))
    runs = [(name, _load(name)) for name in names]
    if not runs:
        _NOT_FOUND.append("cli_memory_*.json")
        return None
    lines = ["| input | method | peak RSS |", "|---|---|---|"]
    for _, run in sorted(runs, key=lambda nr: (len(nr[1]["results"]["image"]), nr[0])):
        r = run["results"]
        kind = "ZYX stack" if len(r["image"]) == 3 else "TIFF"
        method = {"richardson_lucy": "Richardson-Lucy", "wiener": "Wiener"}.get(
            r["method"], f"`{r['method']}`")
        if r["psf"]:
            method += f", Gaussian {r['psf'].split(':')[1]}"
        if r["iterations"]:
            method += f", {r['iterations']} it."
        if r["tile"]:
            method += f", tile {r['tile']}"
        lines.append(f"| {' x '.join(map(str, r['image']))} {r['input_dtype']} {kind} "
                     f"({_gb(r['input_bytes'])}) to {r['output_dtype']} "
                     f"({_gb(r['output_bytes'])}) | {method} | **{r['peak_rss_mb']:.0f} MB** "
                     f"({r['seconds']:.0f} s) |")
    return "\n".join(lines) + "\n\n" + _provenance_line(runs) + ".\n"


TABLES = {"quality": quality_table, "model_size": model_size_text,
          "peers_quality": peers_quality_text,
          "papers_psf": papers_psf_text, "batch_overhead": batch_overhead_text,
          "psf_aware_colour": psf_aware_colour_text, "psf_aware_chroma": psf_aware_chroma_text,
          "finetune_recipes": finetune_recipes_text, "self_adapt_prior": self_adapt_prior_text,
          "finetune_regularisers": finetune_regularisers_text,
          "train_step_layout": train_step_layout_text,
          "self_adapt_psf_aware": self_adapt_psf_aware_text, "psf3d_auto": psf3d_auto_text,
          "classical_auto": classical_auto_text,
          "classical_agreement": classical_agreement_text, "cli_memory": cli_memory_text,
          "finetune": finetune_text,
          "watch_rate": watch_rate_text, "generalization": generalization_table,
          "generalization_papers": generalization_papers_text,
          **{f"papers_{part}": papers_text(part) for part in ("sgpn", "grab", "c2f")}}


#: benchmarks/results/NAME.md rendered from NAME.json by the module that ran it
MARKDOWN_COPIES = {"finetune": "finetune", "generalization": "generalization",
                   "papers": "papers", "papers_sgpn_seed1": "papers",
                   "papers_sgpn_seed2": "papers"}


def markdown_copies() -> dict[Path, str]:
    """{path of each Markdown copy: the text its JSON gives} (imports torch)."""
    import importlib

    sys.path.insert(0, str(Path(__file__).parent))
    copies = {}
    for name, module in MARKDOWN_COPIES.items():
        run = _load(f"{name}.json")
        if run is not None:
            text = importlib.import_module(module).markdown(run)
            copies[RESULTS / f"{name}.md"] = text if text.endswith("\n") else text + "\n"
    return copies


def _pattern(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- readme_tables:{name} begin -->\n)(.*?)(<!-- readme_tables:{name} "
                      r"end -->)", re.S)


def rendered(readme: str) -> tuple[str, list[str]]:
    """README text with every marked table replaced by what the results give, and one line for
    each marked table that could not be rendered (its JSON missing): that table is left as is."""
    unrendered = []
    for name, make in TABLES.items():
        if not _pattern(name).search(readme):
            continue
        _NOT_FOUND.clear()
        text = make()
        if text is None:
            wanted = ", ".join(f"benchmarks/results/{n}" for n in dict.fromkeys(_NOT_FOUND))
            unrendered.append(f"README table {name!r} cannot be rendered: "
                              + (f"{wanted} is missing" if wanted else "its JSON under "
                                 "benchmarks/results/ lacks the part it needs")
                              + "; restore it (git checkout -- benchmarks/results) or rerun "
                              "its benchmark")
            continue
        readme = _pattern(name).sub(lambda m, t=text: m.group(1) + t + m.group(3), readme)
    return readme, unrendered


def render(readme: str) -> str:
    """README text with every marked table replaced by what the results give."""
    return rendered(readme)[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="replace the tables in README.md")
    mode.add_argument("--check", action="store_true", help="exit 1 if README.md is stale")
    args = parser.parse_args(argv)
    readme = README.read_text()
    new, unrendered = rendered(readme)
    for line in unrendered:  # a table without its JSON can be neither written nor checked
        print(line, file=sys.stderr)
    if args.write:
        README.write_text(new)
        for path, text in markdown_copies().items():
            path.write_text(text)
        return 1 if unrendered else 0
    elif args.check:
        if unrendered:
            return 1
        stale = [path.name for path, text in markdown_copies().items()
                 if not path.exists() or path.read_text() != text]
        if new != readme or stale:
            print("README.md tables or " + (", ".join(stale) or "none of the Markdown copies")
                  + " differ from benchmarks/results: run "
                  "python benchmarks/readme_tables.py --write", file=sys.stderr)
            return 1
    else:
        for name, make in TABLES.items():
            print(f"<!-- {name} -->\n{make()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
