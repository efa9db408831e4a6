"""Fine-tuning figures (issue 14), every one at the default settings of `microdeblur finetune`
(the same core jobs the CLI runs, with the CLI's default options; only the time limit is set).

a. Domain shift, paired: from the EM default (bundled.default_for_modality('em')), fine-tune
   (core.finetune, --minutes 5) on 3 training slices of each ssTEM set degraded by protocol A
   (and C); score the set's test slices: fine-tuned vs the start vs Richardson-Lucy / Wiener
   with the true PSF, tuned on the same 3 training slices (core.tuning, on the wide grids:
   RL 1-500 iterations, Wiener balance 1e-4 to 100). The ssTEM sets are
   non-commercial: the fine-tuned weights live in a temporary folder and are deleted.
   --start psf_aware: the same from the PSF-aware default given the true PSF (`finetune
   --psf`), written as a_psf_aware.
b. No ground truth: self-supervised adaptation (core.self_adapt, `finetune --self`, 3 minutes)
   on the blurred test image itself with its true PSF, for every cross-dataset synthetic row
   of benchmarks/generalization.py (its sets, crops, degradations and PSFs): the gain over
   the same network unadapted (the PSF-aware default, and with --networks also the blind one;
   a blind network's row also scores the PSF-aware default given the PSF, unadapted).
c. Real defocus: light-sheet mitochondria (benchmarks/finetune_real.py's split): fine-tune the
   fluorescence default (--minutes 5) on the left half of the focus stack, score the right half
   of the single shots; the fine-tuned model against the default, the stack control (right
   half of the stack's near-focus planes) and the two oracle controls (Gaussian smoothing and
   Gaussian Richardson-Lucy fitted with the reference).

    python benchmarks/finetune.py [--part a|b|c ...] [--start blind|psf_aware]
        [--networks psf_aware,blind] [--quick]

writes benchmarks/results/finetune.json (command, git commit, machine) and finetune.md. Parts
not rerun are kept from the JSON already there (same budgets), each with the run that made it.
--quick: tiny budgets and one image per row, to check the JSON's shape (figures meaningless).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import finetune_real  # noqa: E402
import generalization as gen  # noqa: E402
import provenance  # noqa: E402
import splits  # noqa: E402

from napari_microdeblur.core import bundled  # noqa: E402
from napari_microdeblur.core.checkpoint import load_model, save_weights  # noqa: E402
from napari_microdeblur.core.degrade import degrade, protocol_psf  # noqa: E402
from napari_microdeblur.core.finetune import (  # noqa: E402
    PAIRED_MINUTES,
    FinetuneRequest,
    PairField,
    StackField,
    iter_finetune,
)
from napari_microdeblur.core.inference import deblur  # noqa: E402
from napari_microdeblur.core.method import MethodSpec  # noqa: E402
from napari_microdeblur.core.metrics import evaluate  # noqa: E402
from napari_microdeblur.core.progress import drive  # noqa: E402
from napari_microdeblur.core.psf_aware import (  # noqa: E402
    CALIBRATED_NOISE_SCALE_KEY,
    DEFAULT_PSF_AWARE,
    psf_aware_method,
)
from napari_microdeblur.core.self_adapt import SelfAdaptConfig, iter_self_adapt  # noqa: E402
from napari_microdeblur.core.tuning import (  # noqa: E402
    WIDE_RL_ITERATIONS,
    WIDE_WIENER_BALANCES,
    run_classical,
    tune_classical,
)

RESULTS = Path(__file__).parent / "results"
BORDER = 16
SSTEM = {  # set -> (3 training slices, test slices)
    "em_isbi2012_drosophila_vnc_sstem": ([0, 10, 20], [0, 5, 10, 15, 20, 25]),
    "em_drosophila_vnc_sstem_gerhard2013": ([0, 1, 2], [0, 1]),
}


def budgets(quick: bool) -> dict:
    """Time limits and sizes: the issue's, or tiny ones for --quick."""
    if quick:
        return {"paired_minutes": 0.05, "self_minutes": 0.05, "test": 1, "crop": 192,
                "protocols": ["A"], "modalities": ["em"], "degradations": ["A"]}
    return {"paired_minutes": PAIRED_MINUTES, "self_minutes": SelfAdaptConfig().minutes,
            "test": None, "crop": None, "protocols": ["A", "C"],
            "modalities": list(gen.HELD_OUT), "degradations": gen.DEGRADATIONS}


def centre(image: np.ndarray, crop: int | None) -> np.ndarray:
    return image if crop is None else gen.centre_crop(image, crop)


def paired_finetune(model_name: str, fields: list, minutes: float, label: str, psf=None):
    """core.finetune at the CLI's defaults (as `microdeblur finetune` builds its request):
    (kept model, its card, figures). ``psf``: the PSF of the blurry images, for a PSF-aware
    network (`finetune --psf`)."""
    model, card = load_model(model_name)
    with tempfile.TemporaryDirectory(prefix="finetune-bench-") as ckdir:
        request = FinetuneRequest(mode="stack" if isinstance(fields[0], StackField) else "pair",
                                  axes="", layer_name=label, fields=fields, model=model,
                                  base_label=model_name, base_card=card, minutes=minutes,
                                  checkpoint_dir=ckdir, psf=psf)
        t0 = time.perf_counter()
        outcome = drive(iter_finetune(request))
        seconds = time.perf_counter() - t0
    if outcome.model is None:
        raise SystemExit(f"{label}: fine-tuning kept nothing: {outcome.summary}")
    fit = outcome.result
    info = {"seconds": round(seconds, 1), "steps": fit.steps_done if fit else None,
            "improved_on_validation": outcome.improved, "summary": outcome.summary}
    metrics = outcome.card.metrics or {}
    if "blocked_correction_ratio" in metrics:  # PSF-aware: safeguard and calibrated noise scale
        info["blocked_correction_ratio"] = metrics["blocked_correction_ratio"]
        info["calibrated_noise_scale"] = metrics.get(CALIBRATED_NOISE_SCALE_KEY, 1.0)
    return outcome.model, outcome.card, info


# ----------------------------------------------------------------------------- a: ssTEM


def part_a(b: dict, start_kind: str = "blind") -> dict:
    """From the EM default (``blind``), or from the PSF-aware default given the protocol's
    true PSF (``psf_aware``: what `auto` runs when the user gives the PSF)."""
    start = (bundled.default_for_modality("em", rgb=False) if start_kind == "blind"
             else DEFAULT_PSF_AWARE)
    rows = []
    for set_name, (train_idx, test_idx) in SSTEM.items():
        train_files = splits.files("em", set_name, "train")
        test_files = splits.files("em", set_name, "test")
        train = [centre(splits.load(train_files[i], rgb=False), b["crop"]) for i in train_idx]
        tests = [centre(splits.load(test_files[i], rgb=False), b["crop"])
                 for i in test_idx[: b["test"]]]
        for protocol in b["protocols"]:
            rows.append(_sstem_row(set_name, protocol, start, train, tests, b))
    return {"start": start, "start_kind": start_kind, "rows": rows}


def _sstem_row(set_name, protocol, start, train, tests, b) -> dict:
    t0 = time.perf_counter()
    fields = [PairField(f"train{i}", degrade(s, protocol, seed=100 + i), s, "YX")
              for i, s in enumerate(train)]
    psf = protocol_psf(protocol) if start == DEFAULT_PSF_AWARE else None
    tuned_model, tuned_card, info = paired_finetune(start, fields, b["paired_minutes"],
                                                    f"{set_name} {protocol}", psf=psf)
    # the wide grids of the generalization benchmark: on clean ssTEM the short grids' ends
    # (RL 50, Wiener 0.001) were chosen, so the bar was set where the grid stopped
    tuned = tune_classical(train, protocol, rl_iterations=WIDE_RL_ITERATIONS,
                           balances=WIDE_WIENER_BALANCES)
    scores: dict[str, list[float]] = {k: [] for k in (
        "input", "start", "fine_tuned", "richardson_lucy", "wiener")}
    for i, sharp in enumerate(tests):
        blurred = degrade(sharp, protocol, seed=i)
        outputs = {
            "input": blurred,
            "start": deblur(blurred, method=MethodSpec(start, psf=psf), axes="YX"),
            "fine_tuned": deblur(blurred, method=tuned_model if psf is None
                                 else psf_aware_method(tuned_model, psf, tuned_card),
                                 axes="YX"),
            "richardson_lucy": run_classical(blurred, protocol, "richardson_lucy",
                                             tuned["richardson_lucy"]["value"]),
            "wiener": run_classical(blurred, protocol, "wiener", tuned["wiener"]["value"]),
        }
        for k, out in outputs.items():
            scores[k].append(float(evaluate(out, sharp, border=BORDER)["psnr"]))
    means = {k: float(np.mean(v)) for k, v in scores.items()}
    best_classical = max(means["richardson_lucy"], means["wiener"])
    row = {"set": set_name, "protocol": protocol, "train_slices": len(train),
           "test_slices": len(tests), "psnr": means, "per_image": scores,
           "tuned": {m: tuned[m]["value"] for m in ("richardson_lucy", "wiener")},
           "at_grid_edge": {m: tuned[m]["at_grid_edge"] for m in ("richardson_lucy", "wiener")},
           "gain_over_start_db": means["fine_tuned"] - means["start"],
           "gain_over_best_classical_db": means["fine_tuned"] - best_classical,
           "finetune": info, "seconds": round(time.perf_counter() - t0, 1)}
    print(f"a {set_name} {protocol}: start {means['start']:.2f}, fine-tuned "
          f"{means['fine_tuned']:.2f}, RL {means['richardson_lucy']:.2f}, Wiener "
          f"{means['wiener']:.2f} [{row['seconds']} s]", flush=True)
    return row


# ----------------------------------------------------------------------------- b: no reference


def self_adapted_output(network: str, blurred, psf, axes: str, minutes: float, folder: Path):
    """`finetune --self` at the CLI's defaults, then `deblur --weights FILE` with the file it
    writes; returns (output, adaptation figures)."""
    model, card = load_model(network)
    t0 = time.perf_counter()
    result = drive(iter_self_adapt(model, blurred, psf, axes=axes, card=card,
                                   config=SelfAdaptConfig(minutes=minutes)))
    file = folder / f"{network}.adapted.safetensors"
    save_weights(result.model, file, result.card(card, base_label=network, what="test image",
                                                 psf_text="true PSF"))
    psf_option = psf if getattr(result.model, "needs_psf", False) else None
    out = deblur(blurred, method=MethodSpec("auto", weights=str(file), psf=psf_option),
                 axes=axes)
    return out, {"seconds": round(time.perf_counter() - t0, 1), "steps": result.steps_done,
                 "improved_on_validation": result.improved,
                 "val_loss": [result.start_val_loss, result.best_val_loss],
                 "prior": result.prior_text}


def unadapted_output(network: str, blurred, psf, axes: str):
    psf_option = psf if network == DEFAULT_PSF_AWARE else None
    return deblur(blurred, method=MethodSpec(network, psf=psf_option), axes=axes)


def part_b(b: dict, networks: list[str]) -> dict:
    rows = []
    with tempfile.TemporaryDirectory(prefix="self-adapt-bench-") as folder:
        for group in b["modalities"]:  # an image type's held-out set, or one of UNSEEN_SETS
            modality, cfg = gen.group_config(group)
            rgb = cfg.get("rgb", False)
            axes = "YXS" if rgb else "YX"
            root = gen.SHARED / cfg["set"]
            tests = [gen.centre_crop(gen.read(root / f, rgb), b["crop"] or gen.CROP)
                     for f in cfg["test"][: b["test"] or len(cfg["test"])]]
            for name in b["degradations"]:
                psf = gen.row_psf(name)
                for kind in networks:
                    network = (bundled.default_for_modality(modality, rgb) if kind == "blind"
                               else DEFAULT_PSF_AWARE)
                    rows.append(_self_row(modality, cfg["set"], name, network, tests, psf, rgb,
                                          axes, b, Path(folder)))
    return {"rows": rows, "networks": networks}


def _self_row(modality, set_name, degradation, network, tests, psf, rgb, axes, b, folder):
    channel_axis = -1 if rgb else None
    # a blind network's row also scores the PSF-aware default given the same PSF, unadapted:
    # what the user gets without adapting anything
    keys = ["input", "unadapted", "adapted"] + ([] if network == DEFAULT_PSF_AWARE
                                                else ["psf_aware"])
    scores: dict[str, list[float]] = {k: [] for k in keys}
    runs = []
    for i, sharp in enumerate(tests):
        blurred = gen.degrade_with(sharp, degradation, psf, gen.SEED + i, rgb)
        adapted, info = self_adapted_output(network, blurred, psf, axes, b["self_minutes"],
                                            folder)
        runs.append(info)
        outputs = {"input": blurred, "unadapted": unadapted_output(network, blurred, psf, axes),
                   "adapted": adapted}
        if "psf_aware" in scores:
            outputs["psf_aware"] = unadapted_output(DEFAULT_PSF_AWARE, blurred, psf, axes)
        for k, out in outputs.items():
            scores[k].append(float(evaluate(out, sharp, border=BORDER,
                                            channel_axis=channel_axis)["psnr"]))
    gains = [a - u for a, u in zip(scores["adapted"], scores["unadapted"])]
    row = {"modality": modality, "set": set_name, "degradation": degradation,
           "network": network, "images": len(tests),
           "input": float(np.mean(scores["input"])),
           "unadapted": float(np.mean(scores["unadapted"])),
           "adapted": float(np.mean(scores["adapted"])), "gain_db": float(np.mean(gains)),
           **({"psf_aware": float(np.mean(scores["psf_aware"]))} if "psf_aware" in scores
              else {}),
           "prior": info.get("prior", ""), "per_image": scores, "runs": runs}
    print(f"b {set_name} {degradation} {network}: unadapted {row['unadapted']:.2f}, adapted "
          f"{row['adapted']:.2f} ({row['gain_db']:+.2f} dB)", flush=True)
    return row


# ----------------------------------------------------------------------------- c: real defocus


def part_c(b: dict) -> dict:
    import re

    import tifffile
    from scipy import ndimage

    root = finetune_real.ROOT
    start = bundled.default_for_modality("fluorescence", rgb=False)
    files = sorted((root / "mitochondria_cell2_stack").glob("*.tif"))
    z = [int(re.search(r"Abs00(\d\d)", f.name).group(1)) for f in files]
    planes = [tifffile.imread(f).astype(np.float32) for f in files]
    shots = root / "mitochondria_cell2_single_shots"
    reference = tifffile.imread(shots / "cell2G2Dz0p3umON.tif")[:, 256:].astype(np.float32)
    inputs = [tifffile.imread(f)[:, 256:].astype(np.float32)
              for f in sorted(shots.glob("*Off*.tif"))][: b["test"] or None]
    near = [p[:, 256:] for p, k in zip(planes, z) if 3 <= abs(k - 51) <= 14][: b["test"] or None]
    near_reference = planes[z.index(51)][:, 256:]
    field = StackField("mitochondria stack, left half", np.stack([p[:, :256] for p in planes]),
                       "ZYX", z.index(51))
    tuned_model, _, info = paired_finetune(start, [field], b["paired_minutes"], field.name)
    rows = {"input (defocused shot)": finetune_real.mean_scores(inputs, reference),
            f"{start} (default)": finetune_real.deblurred_scores(start, inputs, reference),
            f"{start} fine-tuned": finetune_real.deblurred_scores(tuned_model, inputs, reference),
            "control: stack planes, right half, default": finetune_real.deblurred_scores(
                start, near, near_reference),
            "control: stack planes, right half, fine-tuned": finetune_real.deblurred_scores(
                tuned_model, near, near_reference)}
    sigma, smooth = max(((s, finetune_real.mean_scores(
        [ndimage.gaussian_filter(x, s) for x in inputs], reference))
        for s in (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)), key=lambda t: t[1]["psnr"])
    rows[f"oracle: Gaussian smoothing, sigma {sigma}"] = smooth
    (s, n), rl = max((((s, n), finetune_real.mean_scores(
        [deblur(x, method="richardson_lucy", psf=f"gaussian:{s}", iterations=n) for x in inputs],
        reference)) for s in (0.75, 1.0, 1.5, 2.0, 3.0) for n in (5, 10, 20)),
        key=lambda t: t[1]["psnr"])
    rows[f"oracle: Richardson-Lucy, Gaussian sigma {s}, {n} it."] = rl
    gain = rows[f"{start} fine-tuned"]["psnr"] - rows[f"{start} (default)"]["psnr"]
    print(f"c mitochondria: default {rows[f'{start} (default)']['psnr']:.2f}, fine-tuned "
          f"{rows[f'{start} fine-tuned']['psnr']:.2f} ({gain:+.2f} dB)", flush=True)
    return {"start": start, "shots": len(inputs), "rows": rows, "gain_db": gain,
            "finetune": info}


# ----------------------------------------------------------------------------- report

PART_KEYS = ("a", "a_psf_aware", "b", "c")
RUN_KEYS = ("command", "git_commit", "tree_differs_from_commit", "minutes", "machine")


def merged(previous: dict | None, result: dict) -> dict:
    """``result`` with the parts of ``previous`` (the JSON already there) that it did not rerun,
    unless one of the two is a --quick run; ``runs`` gives each part the command, commit,
    minutes, machine and budgets of the run that made it (a part keeps its own budgets: part b
    with --images 3 beside part a on every test slice)."""
    made = [k for k in PART_KEYS if k in result]
    result["runs"] = {k: {**{r: result.get(r) for r in RUN_KEYS}, "budgets": result["budgets"]}
                      for k in made}
    if not previous or previous.get("quick") != result["quick"]:
        return result
    earlier = previous.get("runs") or {}
    single_run = {r: previous.get(r) for r in RUN_KEYS}  # a JSON from before per-part runs
    for key in PART_KEYS:
        if key in previous and key not in result:
            result[key] = previous[key]
            result["runs"][key] = {"budgets": previous.get("budgets"),
                                   **earlier.get(key, single_run)}
    result["parts"] = sorted({*result["parts"], *(k[0] for k in result["runs"])})  # a_psf_aware: a
    return result


def part_budgets(result: dict, key: str) -> dict:
    """The budgets the run that made part ``key`` had (the file's, for JSONs from before)."""
    return (result.get("runs") or {}).get(key, {}).get("budgets") or result["budgets"]


def markdown(result: dict) -> str:
    runs = result.get("runs") or {"": {r: result.get(r) for r in RUN_KEYS}}  # before per-part
    lines = ["# Fine-tuning (issue 14)", ""]
    lines += [f"{f'Part {key}: c' if key else 'C'}ommand: `{run['command']}`; commit "
              f"{run['git_commit']}"
              + (", tree differing from it" if run.get("tree_differs_from_commit") else "")
              + f"; {run['machine']}; {run['minutes']} min." for key, run in runs.items()]
    if result["quick"]:
        lines.append("QUICK RUN: tiny budgets, figures meaningless.")
    lines.append("")
    for key in ("a", "a_psf_aware"):
        if key not in result:
            continue
        given = ", given the true PSF (`finetune --psf`)" if key == "a_psf_aware" else ""
        lines += [f"## a. Domain shift, paired (start: {result[key]['start']}{given}, "
                  f"{part_budgets(result, key)['paired_minutes']} min, CLI defaults)", "",
                  "| set | protocol | input | start | fine-tuned | RL (it.) | Wiener (bal.) | "
                  "vs start | vs best classical |", "|---|---|---|---|---|---|---|---|---|"]
        for r in result[key]["rows"]:
            p = r["psnr"]
            scale = r["finetune"].get("calibrated_noise_scale", 1.0)
            calibrated = f" (noise scale {scale:g})" if scale != 1 else ""
            lines.append(
                f"| {r['set']} | {r['protocol']} | {p['input']:.2f} | {p['start']:.2f} | "
                f"{p['fine_tuned']:.2f}{calibrated} | {p['richardson_lucy']:.2f} "
                f"({r['tuned']['richardson_lucy']}) | {p['wiener']:.2f} "
                f"({r['tuned']['wiener']:g}) | {r['gain_over_start_db']:+.2f} dB | "
                f"{r['gain_over_best_classical_db']:+.2f} dB |")
        lines.append("")
    if "b" in result:
        rows = result["b"]["rows"]
        teacher = any("psf_aware" in r for r in rows)  # runs before a58c5f9 did not score it
        lines += [f"## b. No reference: `finetune --self` on the test image itself "
                  f"({part_budgets(result, 'b')['self_minutes']} min, true PSF, CLI defaults)", "",
                  "| set | degradation | network | test images | input | unadapted | adapted "
                  "| gain |" + (" PSF-aware default, unadapted |" if teacher else ""),
                  "|---|---|---|---|---|---|---|---|" + ("---|" if teacher else "")]
        for r in rows:
            extra = (f" {r['psf_aware']:.2f} |" if "psf_aware" in r else " |") if teacher else ""
            lines.append(f"| {r['set']} | {r['degradation']} | {r['network']} | {r['images']} "
                         f"| {r['input']:.2f} | {r['unadapted']:.2f} | {r['adapted']:.2f} | "
                         f"{r['gain_db']:+.2f} dB |{extra}")
        lines.append("")
    if "c" in result:
        lines += [f"## c. Real defocus, light-sheet mitochondria (start: {result['c']['start']}, "
                  f"{part_budgets(result, 'c')['paired_minutes']} min, CLI defaults)", "",
                  "| row | PSNR | SSIM |", "|---|---|---|"]
        lines += [f"| {k} | {v['psnr']:.2f} | {v['ssim']:.4f} |"
                  for k, v in result["c"]["rows"].items()]
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", action="append", choices=["a", "b", "c"],
                   help="run only these parts (repeatable; default all)")
    p.add_argument("--start", choices=["blind", "psf_aware"], default="blind",
                   help="part a: start from the EM default, or from the PSF-aware default "
                        "given the true PSF (written as a_psf_aware)")
    p.add_argument("--networks", default="psf_aware",
                   help="part b: psf_aware, blind or both (comma-separated)")
    p.add_argument("--quick", action="store_true", help="tiny budgets (checks the JSON shape)")
    p.add_argument("--images", type=int, default=None,
                   help="part b: only the first N test images of each set (default all; "
                        "3 minutes of adaptation each)")
    p.add_argument("--modalities", help="part b: only these image types or sets "
                   f"(comma-separated, from {','.join(gen.row_groups())}; default the three "
                   "image types)")
    p.add_argument("--degradations", help="part b: only these degradations (comma-separated, "
                   f"from {','.join(gen.DEGRADATIONS)}; default all)")
    p.add_argument("--out", type=Path, default=RESULTS / "finetune.json")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = p.parse_args(argv)
    networks = args.networks.split(",")
    if not set(networks) <= {"psf_aware", "blind"}:
        p.error(f"--networks {args.networks!r}: give psf_aware, blind or psf_aware,blind")
    parts = args.part or ["a", "b", "c"]
    b = budgets(args.quick)
    if args.images:
        b["test"] = args.images
    if args.modalities:
        b["modalities"] = args.modalities.split(",")
        if not set(b["modalities"]) <= set(gen.row_groups()):
            p.error(f"--modalities {args.modalities!r}: give some of "
                    f"{', '.join(gen.row_groups())}")
    if args.degradations:
        b["degradations"] = args.degradations.split(",")
        if not set(b["degradations"]) <= set(gen.DEGRADATIONS):
            p.error(f"--degradations {args.degradations!r}: give some of "
                    f"{', '.join(gen.DEGRADATIONS)}")
    # the commit the run starts from (a commit made while it runs does not change its code)
    # and whether src/ or benchmarks/ differed from it, as generalization.py records them
    made = provenance.record()
    t0 = time.perf_counter()
    result = {"command": "python benchmarks/finetune.py " + " ".join(argv), "quick": args.quick,
              "parts": parts, "budgets": b}
    if "a" in parts:
        result["a" if args.start == "blind" else "a_psf_aware"] = part_a(b, args.start)
    if "b" in parts:
        result["b"] = part_b(b, networks)
    if "c" in parts:
        result["c"] = part_c(b)
    result.update(git_commit=made["commit"][:7],
                  tree_differs_from_commit=made["tree_differs_from_commit"],
                  minutes=round((time.perf_counter() - t0) / 60, 1),
                  machine=f"{platform.machine()}, {os.cpu_count()} CPU cores, torch "
                  f"{torch.__version__}, {torch.get_num_threads()} threads")
    previous = json.loads(args.out.read_text()) if args.out.is_file() else None
    result = merged(previous, result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
