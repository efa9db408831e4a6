"""Quality beside a peer's CARE (issue 14 part a's scenario): a few paired slices, minutes of CPU.

For each ssTEM set of benchmarks/finetune.py part a (its 3 training slices, its test slices,
protocol A, PSNR/SSIM with a 16-px border left out), in one run so the machine is the same:

- input, and Richardson-Lucy / Wiener with the true PSF tuned on the training slices
  (finetune.py's core.tuning calls);
- ours: `microdeblur finetune` at the CLI's defaults from the EM default (finetune.py's
  paired_finetune), --minutes 5;
- the peer: CAREamics CARE (supervised, trained from random weights) on the same 3 pairs, with
  careamics' defaults (create_care_config; patch 64, batch 16 as its CARE example), for 5
  minutes of wall time and, as a control, 20; predicted with careamics' own normalisation and
  `predict`. It runs in its own environment (--peer-python), never imported here.

    python benchmarks/peers_quality.py --peer-python /tmp/venv_peer/bin/python
        [--sets NAME,...] [--threads 1] [--minutes 5] [--control-minutes 20]
        [--json benchmarks/results/peers_quality.json]
    python benchmarks/peers_quality.py --stages classical,ours   # no peer: no --peer-python
    python benchmarks/peers_quality.py --table FILE.json [FILE.json ...]

The peer's environment, as measured: careamics 0.3.5 pins an older torch than this project's,
so it was installed beside our torch 2.13.0 without its dependencies, then the pure-Python ones
it imports:

    python -m venv --system-site-packages /tmp/venv_peer
    /tmp/venv_peer/bin/pip install --no-deps careamics==0.3.5 lightning==2.6.6 \
        lightning-utilities==0.15.3 torchmetrics==1.8.2 microssim==0.0.5
    /tmp/venv_peer/bin/pip install matplotlib

No torchvision for this torch installs here; the worker stands a stub in for it
(``stub_torchvision``), which fails loudly if careamics calls it (CARE does not).

The ssTEM sets are non-commercial: used for evaluation only; trained weights are deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PROTOCOL = "A"
PEER_PATCH, PEER_BATCH = 64, 16  # careamics' CARE example; the factory has no default for them


def bench():
    """benchmarks/finetune.py as a module (imported late: the peer worker never needs it)."""
    sys.path.insert(0, str(HERE))
    import finetune

    return finetune


def degrade_a(sharp: np.ndarray, seed: int) -> np.ndarray:
    from napari_microdeblur.core.degrade import degrade

    return degrade(sharp, PROTOCOL, seed=seed)


def sstem_data(set_name: str, crop: int | None = None, test: int | None = None):
    """finetune.py part a's pairs for one set: (training pairs, test pairs), each (blurred,
    sharp), degraded by protocol A with its seeds (100 + i for training, i for test)."""
    ft = bench()
    train_idx, test_idx = ft.SSTEM[set_name]
    train_files = ft.splits.files("em", set_name, "train")
    test_files = ft.splits.files("em", set_name, "test")
    train = [ft.centre(ft.splits.load(train_files[i], rgb=False), crop) for i in train_idx]
    tests = [ft.centre(ft.splits.load(test_files[i], rgb=False), crop)
             for i in test_idx[:test]]
    return ([(degrade_a(s, 100 + i), s) for i, s in enumerate(train)],
            [(degrade_a(s, i), s) for i, s in enumerate(tests)])


def score(outputs: list, tests: list) -> dict:
    """Mean PSNR/SSIM over the test slices, border excluded (finetune.py's scoring)."""
    from napari_microdeblur.core.metrics import evaluate

    ft = bench()
    figs = [evaluate(np.asarray(o, np.float32), sharp, border=ft.BORDER)
            for o, (_, sharp) in zip(outputs, tests, strict=True)]
    return {"psnr": float(np.mean([f["psnr"] for f in figs])),
            "ssim": float(np.mean([f["ssim"] for f in figs])),
            "psnr_per_image": [float(f["psnr"]) for f in figs]}


def ours(train: list, tests: list, minutes: float, label: str) -> dict:
    """`microdeblur finetune` defaults from the EM default, then deblur the test slices."""
    from napari_microdeblur.core import bundled
    from napari_microdeblur.core.finetune import PairField
    from napari_microdeblur.core.inference import deblur

    ft = bench()
    fields = [PairField(f"train{i}", b, s, "YX") for i, (b, s) in enumerate(train)]
    start = bundled.default_for_modality("em", rgb=False)
    model, _card, info = ft.paired_finetune(start, fields, minutes, label)
    row = score([deblur(b, method=model, axes="YX") for b, _ in tests], tests)
    return {**row, "start": start, "minutes": minutes, "finetune": info}


def classical(train: list, tests: list) -> dict:
    from napari_microdeblur.core.tuning import (
        WIDE_RL_ITERATIONS,
        WIDE_WIENER_BALANCES,
        run_classical,
        tune_classical,
    )

    # the wide grids of benchmarks/finetune.py's part a (same slices): the committed JSONs
    # were tuned on the short ones, where Wiener 0.001 (the bar) was already chosen
    tuned = tune_classical([s for _, s in train], PROTOCOL, rl_iterations=WIDE_RL_ITERATIONS,
                           balances=WIDE_WIENER_BALANCES)
    rows = {}
    for method in ("richardson_lucy", "wiener"):
        value = tuned[method]["value"]
        outs = [run_classical(b, PROTOCOL, method, value) for b, _ in tests]
        rows[method] = {**score(outs, tests), "value": value}
    return rows


def peer(train: list, tests: list, minutes: float, peer_python: str, threads: int,
         early_stopping: bool = True) -> dict:
    """CAREamics CARE in its own interpreter: train on ``train`` for ``minutes``, predict.
    ``early_stopping=False`` drops careamics' default EarlyStopping so the budget is used."""
    with tempfile.TemporaryDirectory(prefix="peers-quality-") as tmp:
        data, out = Path(tmp) / "data.npz", Path(tmp) / "out.npz"
        np.savez(data, train_x=np.stack([b for b, _ in train]),
                 train_y=np.stack([s for _, s in train]),
                 test_x=np.stack([b for b, _ in tests]))
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": ""}
        cmd = [peer_python, str(Path(__file__).resolve()), "--peer-worker", str(data), str(out),
               "--minutes", str(minutes), "--threads", str(threads)]
        if not early_stopping:
            cmd.append("--no-early-stopping")
        done = subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"peer run failed (fix --peer-python's environment):\n"
                             f"{done.stderr[-3000:]}")
        result = np.load(out, allow_pickle=False)
        info = json.loads(str(result["info"]))
        return {**score(list(result["pred"]), tests), "peer": info}


def stub_torchvision() -> str:
    """careamics imports torchvision at import time for its LVAE and model-zoo export only;
    no CPU torchvision for this torch installs here, so a stub stands in (CARE never calls it:
    any use raises)."""
    import types

    try:
        import torchvision

        return torchvision.__version__
    except ImportError:
        import lightning  # noqa: F401  (probes torchvision by find_spec: before the stub)
        import torchmetrics  # noqa: F401

    def missing(name):
        raise AttributeError(f"torchvision stub: careamics used torchvision.{name}")

    tv, tr = types.ModuleType("torchvision"), types.ModuleType("torchvision.transforms")
    fn = types.ModuleType("torchvision.transforms.functional")
    tv.__version__, tv.transforms, tr.functional, fn.__getattr__ = "stub", tr, fn, missing
    sys.modules.update({"torchvision": tv, "torchvision.transforms": tr,
                        "torchvision.transforms.functional": fn})
    return "stub"


def peer_worker(data: Path, out: Path, minutes: float, threads: int,
                early_stopping: bool = True) -> None:
    """Runs in the peer's environment: CARE from scratch, careamics' defaults, a time limit."""
    import torch

    torch.set_num_threads(threads)
    tv = stub_torchvision()
    import careamics
    from careamics import CAREamist
    from careamics.config import create_care_config

    arrays = np.load(data)
    config = create_care_config(
        experiment_name="peers_quality", data_type="array", axes="YX",
        patch_size=[PEER_PATCH, PEER_PATCH], batch_size=PEER_BATCH,
        num_epochs=100000,  # the wall-time limit below stops it
    )
    seconds = int(round(minutes * 60))
    config.training_config.trainer_params["max_time"] = {"seconds": seconds}
    if not early_stopping:  # careamics adds its EarlyStopping only when these are set
        config.training_config.early_stopping_params = {}
    careamist = CAREamist(config, work_dir=out.parent / "work", enable_progress_bar=False)
    t0 = time.perf_counter()
    careamist.train(train_data=[x.astype(np.float32) for x in arrays["train_x"]],
                    train_data_target=[y.astype(np.float32) for y in arrays["train_y"]])
    train_s = time.perf_counter() - t0
    preds = [np.squeeze(np.asarray(careamist.predict(x.astype(np.float32), axes="YX")[0][0]))
             for x in arrays["test_x"]]
    trainer = careamist.trainer
    info = {"careamics": careamics.__version__, "torch": torch.__version__, "torchvision": tv,
            "threads": torch.get_num_threads(), "train_seconds": round(train_s, 1),
            "epochs": int(trainer.current_epoch), "steps": int(trainer.global_step),
            "patch": PEER_PATCH, "batch": PEER_BATCH, "max_time_s": seconds,
            "early_stopping": early_stopping,
            "predict_seconds": round(time.perf_counter() - t0 - train_s, 1)}
    np.savez(out, pred=np.stack(preds).astype(np.float32), info=json.dumps(info))


def run_set(set_name: str, args, save, crop=None, test=None) -> dict:
    """One set's row; ``save(row)`` after each stage, so a stopped run keeps what it measured."""
    train, tests = sstem_data(set_name, crop, test)
    row = {"set": set_name, "protocol": PROTOCOL, "train_slices": len(train),
           "test_slices": len(tests), "input": score([b for b, _ in tests], tests)}
    if "classical" in args.stages:
        row.update(classical(train, tests))
    if "ours" in args.stages:
        row["ours"] = ours(train, tests, args.minutes, f"{set_name} {PROTOCOL}")
        print(f"{set_name}: ours {row['ours']['psnr']:.2f}", flush=True)
        save(row)
    suffix = "" if args.peer_early_stopping else "_no_early_stopping"
    for key, minutes in (("peer", args.minutes), ("peer_control", args.control_minutes)):
        if key in args.stages and minutes > 0:
            key += suffix
            row[key] = peer(train, tests, minutes, args.peer_python, args.threads,
                            args.peer_early_stopping)
            row[key]["minutes"] = minutes
            print(f"{set_name}: {key} {row[key]['psnr']:.2f}", flush=True)
            save(row)
    return row


STAGES = ("classical", "ours", "peer", "peer_control")
COLUMNS = (("ours", "ours"), ("peer", "CARE"),
           ("peer_no_early_stopping", "CARE, no early stopping"),
           ("peer_control", "CARE control"),
           ("peer_control_no_early_stopping", "CARE control, no early stopping"))


def table(rows: list) -> str:
    """PSNR / SSIM per set; rows of one set from several runs are merged (later ones win)."""
    merged: dict = {}
    for r in rows:
        merged.setdefault(r["set"], {}).update(r)
    cols = [(k, name) for k, name in COLUMNS if any(k in r for r in merged.values())]
    fig = lambda r: f"{r['psnr']:.2f} / {r['ssim']:.3f}" if r else "-"  # noqa: E731
    def mins(r):  # the budget, and the time trained where early stopping ended it sooner
        if not r or "minutes" not in r:
            return ""
        trained = (r.get("peer") or {}).get("train_seconds")
        if trained is None or trained >= 60 * r["minutes"] - 5:
            return f" ({r['minutes']:g} min)"
        return f" ({trained / 60:.1f} of {r['minutes']:g} min)"

    row = lambda cells: "| " + " | ".join(cells) + " |"  # noqa: E731 (no empty cell at the end)
    lines = [row(["set", "input", "best classical", *(n for _, n in cols)]),
             "|---" * (3 + len(cols)) + "|"]
    for name, r in merged.items():
        best = "-"  # a run of the peer alone (--stages) has no classical rows
        if "wiener" in r:
            m = max(("richardson_lucy", "wiener"), key=lambda m: r[m]["psnr"])
            best = f"{fig(r[m])} ({'RL' if m == 'richardson_lucy' else 'Wiener'})"
        cells = [fig(r.get(k)) + mins(r.get(k)) for k, _ in cols]
        lines.append(row([name, fig(r["input"]), best, *cells]))
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--peer-worker", nargs=2, type=Path, metavar=("DATA", "OUT"),
                   help=argparse.SUPPRESS)
    p.add_argument("--peer-python", help="the interpreter of the environment holding careamics")
    p.add_argument("--sets", help="comma-separated ssTEM sets (default both)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--control-minutes", type=float, default=20.0)
    p.add_argument("--json", type=Path, default=HERE / "results" / "peers_quality.json")
    p.add_argument("--stages", default="classical,ours,peer,peer_control",
                   help="comma-separated: classical, ours, peer, peer_control")
    p.add_argument("--no-early-stopping", dest="peer_early_stopping", action="store_false",
                   help="the peer trains for the whole budget (careamics' EarlyStopping off)")
    p.add_argument("--table", nargs="+", type=Path, help="print the Markdown table of JSONs")
    args = p.parse_args(argv)
    if args.peer_worker:
        peer_worker(*args.peer_worker, args.minutes, args.threads, args.peer_early_stopping)
        return 0
    if args.table:
        rows = [r for f in args.table for r in json.loads(f.read_text())["results"]["rows"]]
        print(table(rows))
        return 0
    args.stages = args.stages.split(",")
    unknown = sorted(set(args.stages) - set(STAGES))
    if unknown:
        p.error(f"--stages: unknown {', '.join(unknown)}; give some of {', '.join(STAGES)}")
    # only the peer's stages run careamics: --stages classical,ours needs no environment
    if not args.peer_python and {"peer", "peer_control"} & set(args.stages):
        p.error("give --peer-python PATH: the python of the venv where careamics is installed "
                "(the stages peer and peer_control run it)")
    import torch

    torch.set_num_threads(args.threads)
    import provenance

    sets = args.sets.split(",") if args.sets else list(bench().SSTEM)
    t0 = time.perf_counter()
    rows: list = []

    def save(row):
        done = [r for r in rows if r is not row] + [row]
        provenance.write_json(args.json, {
            "rows": done, "minutes": args.minutes, "control_minutes": args.control_minutes,
            "threads": args.threads, "peer_python": args.peer_python, "stages": args.stages,
            "peer_early_stopping": args.peer_early_stopping,
            "wall_minutes": round((time.perf_counter() - t0) / 60, 1)})

    for name in sets:
        rows.append(run_set(name, args, save))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
