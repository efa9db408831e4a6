"""The `train` and `finetune` commands of `microdeblur` (registered by cli.build_parser)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import cli_training_data as training_data
from .cli import UserError
from .cli_early import (
    check_bounds,
    check_val_fraction,
    training_checked_early,
    weights_refused,
)
from .cli_runs import (
    FinetuneStop,
    TrainRun,
    checkpoint_folder,
    continued_card,
    drive_fit,
    finetune_stopped,
    finish_train_run,
    keep_finetuned,
    keep_finished,
    load_start_weights,
    mark_stopped,
    releasing_claims,
    resumed_words,
    say_taken,
    stack_targets,
)

# Numbers only: the training code itself is imported by the commands that run it, so that
# `microdeblur deblur` does not pay for it (core.job_defaults says how much)
from .core.job_defaults import (
    DEFAULT_ANCHOR_WEIGHT,
    DEFAULT_INTENSITY_JITTER,
    DEFAULT_MIN_GAIN_DB,
    DEFAULT_PATIENCE,
    DEFAULT_REPLAY,
    DEFAULT_TRAINABLE,
    PAIRED_LR,
    PAIRED_MINUTES,
    PAIRED_STEPS,
    SELF_ADAPT_LR,
    SELF_ADAPT_MAX_STEPS,
    SELF_ADAPT_MINUTES,
    TRAIN_LR,
    TRAIN_MAX_VAL_EVERY,
    TRAIN_STEPS,
    TRAINABLE,
)
from .core.shown import shown_path
from .core.training.regime_facts import psf_aware_refusal


def _check_weights_output(path: str, overwrite: bool, weights: str | None = None) -> Path:
    """--out before any work (``core.run_paths``, without torch): a folder that cannot be
    written in was found only when the trained weights were saved, and they were lost."""
    from .cli_regimes import output_refused
    from .core.run_paths import check_weights_output

    out = Path(path)
    try:  # its words: '--out X must end in .safetensors', '--out X is read-only' ...
        return check_weights_output(out, overwrite=overwrite, starting=weights)
    except (ValueError, OSError) as error:
        raise output_refused(error, "--out", out) from None


def _check_device(device: str) -> None:
    """--device before any image is read (else a bad one was said after the data work)."""
    from .core.devices import resolve_device

    resolve_device(device)  # ValueError naming device=, said as --device (cli_words)


def _read_config(path: str | None, option: str = "--config", arch: str | None = None) -> dict:
    """The config of --config (or ``option``): a JSON object of config fields, in a file or
    given inline (text starting with '{' that names no file), or the name of one of ``arch``'s
    presets ('tiny', 'cpu_small', ...: what the Fine-tune dock and Python offer) where no file
    has that name."""
    if not path:
        return {}
    if arch and not Path(path).exists() and (preset := _preset(arch, path)) is not None:
        return preset
    inline = path.lstrip().startswith("{") and not Path(path).is_file()
    try:
        # UTF-8 as JSON is, whatever the locale (Windows read it as cp1252); -sig: a BOM
        # (Notepad, PowerShell's UTF8) is skipped, not 'not valid JSON'
        config = json.loads(path if inline else Path(path).read_text(encoding="utf-8-sig"))
    except OSError as error:
        why = error.strerror or error
        raise UserError(f"{option} {shown_path(path)}: cannot read it ({why})"
                        f"{_presets_words(arch)}") from None
    except UnicodeDecodeError:
        raise UserError(f"{option} {shown_path(path)} is not UTF-8 text: save it as UTF-8 "
                        "(JSON files are)") from None
    except json.JSONDecodeError as error:
        raise UserError(f"{option} {shown_path(path)} is not valid JSON: {error.msg} at line "
                        f"{error.lineno}, column {error.colno}") from None
    if not isinstance(config, dict):
        raise UserError(f"{option} {shown_path(path)}: expected a JSON object of config fields, "
                        f"got a {type(config).__name__}")
    return config


def _preset(arch: str, name: str) -> dict | None:
    """``arch``'s preset ``name`` as config fields; None where it has none of that name (or
    ``arch`` is no architecture: refused later, in its own words)."""
    from .core import registry

    try:
        return registry.preset_config(arch, name) if name in registry.list_presets(arch) else None
    except ValueError:
        return None


def _presets_words(arch: str | None) -> str:
    """'; nor is it a preset of ARCH (...)' where ``arch`` is an architecture."""
    from .core import registry

    try:
        names = registry.list_presets(arch) if arch else []
    except ValueError:
        names = []
    return f"; nor is it a preset of {arch} ({', '.join(names)})" if names else ""


def _start_weights(args):
    """(model, card) of --weights (the network to continue training), checked against --arch
    and --config; None without --weights."""
    if not args.weights:
        return None
    from .core.checkpoint import ArchitectureUnknownError

    if args.config:
        raise UserError("--config and --weights: the weights' model card fixes the config; "
                        "leave out --config")
    try:
        model, card = load_start_weights(args.weights, args.arch)
    except ArchitectureUnknownError:
        raise  # said in the command's words where it is printed (cli_words)
    except (ValueError, OSError) as error:
        raise weights_refused(args.weights, error) from None
    if card.arch != args.arch:
        raise UserError(f"--weights {args.weights} is a {card.arch} network; give --arch "
                        f"{card.arch}")
    return model, card


def _check_resumed_run(args) -> float:
    """The run --resume continues is one of --arch in --regime (one line, before any image is
    read); the seconds it has run (--minutes are this session's)."""
    from .core.training.checkpoints import checkpoint_path, read_checkpoint_info

    try:
        info = read_checkpoint_info(args.checkpoint_dir)
    except ValueError as error:
        raise UserError(f"--resume: {error}") from None
    if (info["arch"] or args.arch) != args.arch or info["regime"] != args.regime:
        where = shown_path(checkpoint_path(args.checkpoint_dir))
        raise UserError(f"--resume: {where} is a {info['arch']} run in --regime "
                        f"{info['regime']}; give --arch {info['arch']} --regime "
                        f"{info['regime']}, or another --checkpoint-dir for a new run")
    return float(info["elapsed"] or 0)


def _train_data(args, sharp, blurry, unpaired: dict, dims: int, divisor: int = 1):
    """(train, val, extra sources, card training_data, card degradation, what the validation
    is on: said in the closing line). Which images are held out is said before training
    (unless -q) and written in the card (psf_cyclegan: in its own words)."""
    from . import cli_regimes

    validated_on = ""
    if dims == 3:  # psf_cyclegan on z-stacks: no validation
        extra = cli_regimes.unpaired_sources(unpaired, dims, args.regime)
        train, val, degradation = extra["unpaired_sharp"], None, "unknown (unpaired z-stacks)"
    else:
        split = training_data.split_training(args, sharp, blurry, divisor)
        train, val, degradation = split.train, split.val, split.degradation
        if args.regime == "psf_cyclegan":  # its held-out images leave its sharp set
            validated_on = cli_regimes.hold_out_validation(args, unpaired, train)
        else:
            validated_on = split.validated_on
            if split.note and not args.quiet:
                print(f"microdeblur: {split.note}", file=sys.stderr)
        extra = cli_regimes.unpaired_sources(unpaired, dims, args.regime)
    described, degradation = cli_regimes.card_data(args, train, degradation, extra,
                                                   validated_on)
    if validated_on and args.regime != "psf_cyclegan":  # psf_cyclegan's card says it
        described += f"; validation: {validated_on}"
    return train, val, extra, described, degradation, validated_on


def _train_card(args, start_card, described: str, degradation: str) -> dict:
    card = {"description": f"{args.arch} trained with microdeblur train --regime {args.regime}"
            + (f", starting from {args.weights}" if start_card else ""),
            "license": args.license or "unknown", "degradation": degradation,
            "training_data": described}
    if start_card is not None:
        card.update(continued_card(args.weights, start_card, described, args.license))
    return card


@releasing_claims  # its --checkpoint-dir, claimed for the run
def cmd_train(args) -> int:
    """Train a registered architecture in one of the regimes (the papers' training) on sharp
    images (synthetic blur) or blurry/sharp pairs, plus the regime's unpaired image sets."""
    out = _check_weights_output(args.out, args.overwrite, args.weights)
    check_val_fraction(args.val_fraction)
    check_bounds(args)
    training_checked_early(args)  # before torch's import: the device's form, folder, weights
    from . import cli_regimes
    from .core import registry, training
    from .core.training.checkpoints import check_resumable, check_same_start, run_folder

    _check_device(args.device)
    cli_regimes.check_regime_options(args)
    training_data.check_degradation(args)
    folder = (checkpoint_folder(args.checkpoint_dir, resume=args.resume)
              if args.checkpoint_dir else None)
    ran = _check_resumed_run(args) if args.resume else 0.0
    started = resumed_words(args.checkpoint_dir) if args.resume else ""
    start = _start_weights(args)  # (model, card) of --weights, or None
    config = dict(start[1].config) if start else _read_config(args.config, arch=args.arch)
    cli_regimes.refuse_3d_outside_cycle(args, config.get("spatial_dims", 2), [])
    cli_regimes.check_image_specs(args)
    sharp, blurry, rgb = training_data.read_training_images(args)
    unpaired, extra_axes = cli_regimes.read_unpaired(args, training_data.read_images,
                                                     training_data.one_kind, rgb)
    sharp_axes = {} if (args.regime == "psf_cyclegan" and not args.sharp) else {
        "--sharp": [a for _, _, a in sharp]}
    cli_regimes.choose_spatial_dims(args, config, {
        **sharp_axes, "--blurry": [a for _, _, a in blurry or []], **extra_axes})
    config.setdefault("in_channels", 3 if rgb else 1)
    config.setdefault("out_channels", config["in_channels"])
    if start and config["in_channels"] != (3 if rgb else 1):
        raise UserError(f"--weights {args.weights} takes {config['in_channels']}-channel images "
                        f"but the training images are {'RGB' if rgb else 'single-channel'}")
    model = start[0] if start else registry.build_model(args.arch, config, seed=args.seed)
    if getattr(model, "needs_psf", False):  # refused before the data work and its notes
        raise UserError(psf_aware_refusal(args.arch))
    cli_regimes.check_model_fits(args, model)
    options = dict(steps=args.steps, batch_size=args.batch, patch=args.patch, lr=args.lr,
                   device=args.device, seed=args.seed,
                   **cli_regimes.training_options(args, model, _read_config))
    training.TrainingConfig.from_options(options)  # bad options fail before the data work
    if args.resume:  # the same network, more steps, the same settings: before the data work
        check_resumable(folder, model, args.steps, options)
        # --weights and --license too: the card's licence and start were rewritten
        check_same_start(folder, _train_card(args, start[1] if start else None, "", ""))
    train, val, extra, described, degradation, validated_on = _train_data(
        args, sharp, blurry, unpaired, config.get("spatial_dims", 2),
        int(getattr(model, "size_divisor", 1)))
    card = _train_card(args, start[1] if start else None, described, degradation)
    val_every = max(1, min(args.steps // 10, TRAIN_MAX_VAL_EVERY))
    how = TrainRun(out=out, regime=args.regime, lr=args.lr, quiet=args.quiet, folder=folder,
                   val_every=val_every if val is not None else 0, started=started,
                   time_limit=None if args.minutes is None else args.minutes * 60,
                   overwrite=args.overwrite)
    # --checkpoint-dir keeps the run's best and last checkpoints; without it they live in a
    # temporary folder (named so that the next run removes it if this one is killed)
    with run_folder(folder, "train") as ckdir:
        config = training.TrainingConfig.from_options(
            {**options, "checkpoint_dir": str(ckdir), "val_every": val_every,
             "checkpoint_every": val_every, "card": card,
             "time_limit": None if how.time_limit is None else how.time_limit + ran})
        try:
            run = training.iter_fit(model, config, train, val, **extra,
                                    resume_from=folder if args.resume else None)
        except ValueError as error:  # e.g. unreadable --vgg-weights, before any training
            raise UserError(cli_regimes.shell_json(str(error))) from None
        result = finish_train_run(run, ckdir, how)
        if isinstance(result, int):  # stopped early; said so, the best so far kept
            return result
        kept = keep_finished(ckdir / "best.safetensors", out, args.overwrite)  # or beside
        if result.stopped == "time_limit":  # the card's training.steps is the planned bound
            mark_stopped(kept, f"stopped by --minutes {args.minutes:g} at step "
                               f"{result.steps_done} of {args.steps}")
        untrained = cli_regimes.finish_psf_run(args, kept, ckdir, model, result)
        starting = cli_regimes.starting_kept(args, result)
        if starting and not untrained:  # what the kept step-0 weights are, in the card too
            cli_regimes.note_starting_kept(kept, starting)
    say_taken(out, kept)
    return cli_regimes.say_trained(args, kept, result, validated_on, untrained)


def _check_finetune_options(args) -> None:
    check_bounds(args)
    if args.patience is not None and args.patience < 1:
        raise UserError(f"--patience {args.patience}: give a number of validations >= 1")
    check_val_fraction(args.val_fraction, zero_allowed=True)
    if args.target_neighbours < 0 or (args.target_neighbours and not args.stack):
        raise UserError(f"--target-neighbours {args.target_neighbours}: give K >= 0, with "
                        "--stack (it averages planes of a z-stack into the target)")
    training_data.focus_plane(args)  # before the weights load: refused with pairs
    if not args.min_gain >= 0:
        raise UserError(f"--min-gain {args.min_gain}: give a PSNR margin >= 0 dB")
    if args.replay_images and not args.replay > 0:
        raise UserError("--replay-images: give the share of each batch to replay on them too, "
                        "e.g. --replay 0.25")


@releasing_claims  # its --checkpoint-dir, claimed for the run
def cmd_finetune(args) -> int:
    """Fine-tune weights on the user's blurry/sharp pairs or z-stacks (core.finetune)."""
    out = _check_weights_output(args.out, args.overwrite, args.weights)
    calibration_given = args.noise_scale_calibration != "before-and-after"
    if args.self_images and calibration_given:
        raise UserError("--noise-scale-calibration is for pairs (it scores the held-out sharp "
                        "region); with --self leave it out")
    if args.self_images:
        return _finetune_self(args, out)
    if args.self_prior != "auto":
        raise UserError("--self-prior is for --self IMG (adapting without a reference); with "
                        "pairs the sharp images are the target: leave it out")
    _check_finetune_options(args)
    # before torch's import: the device's form, folder, weights and images
    training_checked_early(args, [*(args.blurry or []), *(args.sharp or []), *(args.stack or [])])
    from .core.checkpoint import load_model
    from .core.finetune import FinetuneRequest, iter_finetune
    from .core.pixel_units import stated_pixel_size
    from .core.training.checkpoints import run_folder

    _check_device(args.device)
    if args.checkpoint_dir:
        checkpoint_folder(args.checkpoint_dir, resume=args.resume)
    # read before the run writes last.pt again; said once its checks pass
    started = resumed_words(args.checkpoint_dir) if args.resume else ""
    model, base_card = load_model(args.weights)
    if args.psf and not getattr(model, "needs_psf", False):
        from .core.psf_aware import DEFAULT_PSF_AWARE

        raise UserError(f"--psf is for --self IMG (adapting without a reference) or for "
                        f"PSF-aware --weights such as {DEFAULT_PSF_AWARE}; {args.weights} "
                        "takes no PSF")
    if getattr(model, "needs_psf", False) and not args.psf:
        raise UserError(f"{args.weights} is PSF-aware: give the PSF of the blurry images with "
                        "--psf (a TIFF, gaussian:SIGMA, widefield:... or confocal:...)")
    if calibration_given and not getattr(model, "needs_psf", False):
        raise UserError(f"--noise-scale-calibration is for PSF-aware --weights (wiener_unet.*); "
                        f"{args.weights} takes no noise scale: leave it out")
    sizes: list = []  # the files' pixel sizes, for the card
    # each stack's in-focus plane said (auto) and its --target-neighbours cut to its planes
    fields = stack_targets(training_data.finetune_fields(args, sizes), args.quiet)
    # without --checkpoint-dir a temporary folder, named so that the next run removes it if
    # this one is killed
    with run_folder(args.checkpoint_dir, "finetune") as ckdir:
        request = FinetuneRequest(
            mode="stack" if args.stack else "pair", axes=args.axes or "",
            layer_name=", ".join(f.name for f in fields), fields=fields, model=model,
            base_label=str(args.weights), base_card=base_card,
            steps=PAIRED_STEPS if args.steps is None else args.steps, patch=args.patch,
            batch_size=args.batch, lr=PAIRED_LR if args.lr is None else args.lr,
            device=args.device, source_kind="file",
            val_fraction=args.val_fraction, patience=args.patience,
            minutes=PAIRED_MINUTES if args.minutes is None else args.minutes,
            augment=not args.no_augment, intensity_jitter=args.intensity_jitter,
            anchor_weight=args.anchor_weight, min_gain_db=args.min_gain, psf=args.psf,
            trainable=args.trainable, replay=args.replay,
            replay_images=training_data.replay_planes(args.replay_images, args.patch),
            noise_scale_calibration=args.noise_scale_calibration.replace("-", " "),
            checkpoint_dir=str(ckdir), resume=args.resume, seed=args.seed or 0,
            pixel_size_um=stated_pixel_size(sizes), license=args.license)
        job, latest = iter_finetune(request), {"steps": 0}
        try:
            outcome = drive_fit(job, quiet=args.quiet, started=started,
                                time_limit=60 * request.minutes, latest=latest)
        except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM (cli.Terminated)
            job.close()  # the run writes its best checkpoint when closed
            return finetune_stopped(stop, ckdir, FinetuneStop(
                out, resumable=bool(args.checkpoint_dir), overwrite=args.overwrite,
                resumed=args.resume, weights=str(args.weights), latest=latest))
        except ValueError as error:  # the job's checks (an unreadable last.pt ...)
            raise UserError(str(error)) from None
        return keep_finetuned(outcome, out, overwrite=args.overwrite, weights=args.weights,
                              lr=request.lr)


def _finetune_self(args, out: Path) -> int:
    """`finetune --self IMG --psf PSF`: adapt without a reference (core.self_adapt); with
    --checkpoint-dir its best and last state are kept there, and --resume continues them."""
    if args.stack or args.blurry or args.sharp:  # first: else --psf was asked for, then this
        raise UserError("--self adapts without a reference: leave out --stack, --blurry and "
                        "--sharp")
    if not args.psf:
        raise UserError("--self needs --psf (a TIFF, gaussian:SIGMA, widefield:..., "
                        "confocal:... or estimate): the adaptation re-blurs its output with "
                        "that PSF")
    # options of the paired job that self-adaptation has no use for were silently ignored
    unused = [option for option, given in (
        ("--patience", args.patience != DEFAULT_PATIENCE), ("--no-augment", args.no_augment),
        ("--intensity-jitter", args.intensity_jitter != DEFAULT_INTENSITY_JITTER),
        ("--anchor-weight", args.anchor_weight != DEFAULT_ANCHOR_WEIGHT),
        ("--trainable", args.trainable != DEFAULT_TRAINABLE),
        ("--replay", args.replay != DEFAULT_REPLAY), ("--replay-images", args.replay_images),
        ("--min-gain", args.min_gain != DEFAULT_MIN_GAIN_DB),
        ("--focus-plane", args.focus_plane is not None),
        ("--target-neighbours", args.target_neighbours != 0)) if given]
    if unused:
        raise UserError(f"{', '.join(unused)}: for pairs and stacks only; --self does not use "
                        "them, leave them out")
    check_bounds(args)  # --minutes, and --resume without --checkpoint-dir
    check_val_fraction(args.val_fraction)
    training_checked_early(args, args.self_images, args.psf)  # before torch's import
    from .cli_finetune_self import self_finished, self_stopped, start_self_job
    from .core.run_paths import checked_temporary_folder
    from .core.self_adapt import SelfAdaptConfig

    _check_device(args.device)
    checked_temporary_folder()  # torch's optimiser needs one: the line says to set TMPDIR
    defaults = SelfAdaptConfig()
    config = SelfAdaptConfig(minutes=SELF_ADAPT_MINUTES if args.minutes is None else args.minutes,
                             max_steps=defaults.max_steps if args.steps is None else args.steps,
                             patch=args.patch, batch_size=args.batch,
                             lr=defaults.lr if args.lr is None else args.lr,
                             val_fraction=args.val_fraction, device=args.device,
                             prior_from=args.self_prior, seed=args.seed or 0).check()
    run = start_self_job(args, config)  # a resume's checks too, before any work
    try:
        result = drive_fit(run.job, quiet=args.quiet, shown=run.shown,
                           time_limit=60 * config.minutes)
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM (cli.Terminated)
        return self_stopped(stop, run, args, out)
    return self_finished(result, run, args, out)


#: --axes of train and finetune
AXES_HELP = "axes of the images, e.g. YX, ZYX, YXS (RGB) (default: from each file)"


def _add_training_options(p: argparse.ArgumentParser, *, steps: int | None, lr: float | None,
                          defaults: str = "", lr_default: str = "") -> None:
    """``defaults``/``lr_default``: --steps'/--lr's defaults in words, where not one number."""
    p.add_argument("--out", required=True, help="output .safetensors (with its model card)")
    # train's defaults are numbers: --help said none of them
    p.add_argument("--steps", type=int, default=steps,
                   help="training steps (" + (defaults or "default %(default)s") + ")")
    p.add_argument("--patch", type=int, default=64,
                   help="training patch size in pixels (default %(default)s)")
    p.add_argument("--batch", type=int, default=8, help="patches per step (default %(default)s)")
    p.add_argument("--lr", type=float, default=lr, help="peak learning rate (" + (
        lr_default or "default %(default)g") + ")")
    p.add_argument("--val-fraction", type=float, default=0.2,
                   help="share of whole images or planes held out for validation (of --blurry/"
                   "--sharp pairs: whole files when there are several; default %(default)g)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar; notes, warnings and the closing line still print")


def add_training_commands(sub) -> None:
    """Add `train` and `finetune` to the subcommands of the `microdeblur` parser. train's
    options are added when first needed (``defer``: about 30 ms that other commands skip);
    they come from ``core.training.regime_facts``, not the training code, which imports torch
    (`train --help` took 1.3 s and 200 MB more for it)."""
    p = sub.add_parser("train", help="train a network (synthetic blur of sharp images, or pairs)",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.defer(_add_train_options)
    _add_finetune_command(sub)


def _add_train_options(p: argparse.ArgumentParser) -> None:
    from .cli_regimes import OneSpec, add_regime_options, regimes_epilog

    p.epilog = regimes_epilog()
    p.add_argument("--arch", required=True, help="a registered architecture (see methods)")
    p.add_argument("--config", help="JSON file of config fields, or a preset of --arch by name "
                   "(paper, cpu_small, tiny, ...; default: the paper's config)")
    p.add_argument("--sharp", action=OneSpec, help="sharp image, directory or quoted glob "
                   "(required, except for psf_cyclegan: default --unpaired-sharp)")
    p.add_argument("--blurry", action=OneSpec,
                   help="blurry images paired with --sharp in sorted order")
    p.add_argument("--degradation", choices=["A", "B", "C", "mix"],
                   help="synthetic blur and noise of --sharp alone (default "
                   f"{training_data.DEFAULT_DEGRADATION}: random Gaussian, defocus and "
                   "astigmatic PSFs and noise spanning A, B, C; psf_cyclegan: of its "
                   "validation images); not with --blurry pairs")
    p.add_argument("--axes", help=AXES_HELP)
    _add_training_options(p, steps=TRAIN_STEPS, lr=TRAIN_LR)
    p.add_argument("--minutes", type=float,
                   help="time limit; --steps is then the upper bound (default: none, the run "
                   "ends after --steps)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the initial weights and of the patch and blur draws (default "
                   "%(default)s)")
    p.add_argument("--license", help="SPDX licence of the training data (default unknown; with "
                   "--weights, the starting weights' licence, combined with this one)")
    p.add_argument("--checkpoint-dir", help="keep the run's kept checkpoint best.safetensors "
                   "(supervised: the best validation PSNR; the adversarial regimes: the last "
                   "validated step) with best.pt, last.safetensors and last.pt here (a new or "
                   "empty folder; default: a temporary one)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --checkpoint-dir from its last checkpoint (the "
                   "same options; --steps may be raised)")
    p.add_argument("--weights", help="start from these weights (bundled name or file) instead "
                   "of random ones, e.g. gran.em_v1 with --regime gran_gan")
    add_regime_options(p)
    p.set_defaults(func=cmd_train)


def _add_small_data_options(p: argparse.ArgumentParser) -> None:
    """finetune's recipes for a few pairs (README, *Small-data options*)."""
    p.add_argument("--intensity-jitter", type=float, default=DEFAULT_INTENSITY_JITTER,
                   help="random gain/offset of each patch pair (default %(default)g; 0 turns "
                   "it off)")
    p.add_argument("--anchor-weight", type=float, default=DEFAULT_ANCHOR_WEIGHT,
                   help="L2-SP: weight of sum((w - w_start)^2), pulling the weights toward "
                   "the starting ones (default %(default)g: off)")
    p.add_argument("--trainable", choices=TRAINABLE, default=DEFAULT_TRAINABLE,
                   help="which weights train: all, late (the layers nearest the output holding "
                   "half of the weights) or norm-bias (biases and normalisation scales only; "
                   "default %(default)s)")
    p.add_argument("--replay", type=float, default=DEFAULT_REPLAY, metavar="SHARE",
                   help="share of each batch blurred by the starting network's synthetic "
                   "training mixture (its model card), on --replay-images or the training "
                   "targets (default %(default)g: off)")
    p.add_argument("--replay-images", action="append", metavar="PATH",
                   help="with --replay: sharp images (file, folder or quoted glob; "
                   "repeatable), e.g. of the kind the starting network was trained on")


def _add_finetune_command(sub) -> None:
    from .cli_options import psf_epilog

    p = sub.add_parser("finetune", help="fine-tune weights on your own paired data",
                       **psf_epilog("finetune: one 2D PSF (a 3D one gives its in-focus plane); "
                                    "estimate with --self only; no per-channel PSFs",
                                    per_channel=False))
    p.add_argument("--weights", required=True, help="bundled name (gran.fluo_v1; `microdeblur "
                   "methods` lists every name) or file")
    p.add_argument("--blurry", action="append",
                   help="blurry image, folder or quoted glob (repeatable; with --sharp)")
    p.add_argument("--sharp", action="append",
                   help="sharp images of the same fields, paired with --blurry in sorted order")
    p.add_argument("--stack", action="append",
                   help="a z-stack (repeatable): each plane is paired to the in-focus plane")
    p.add_argument("--focus-plane", help="with --stack: its in-focus plane, auto (by focus "
                   "score, the default) or a plane index")
    p.add_argument("--target-neighbours", type=int, default=0, metavar="K",
                   help="with --stack: the target is the mean of the in-focus plane and K "
                   "planes each side of it (no more than the nearer end of the stack has), the "
                   "input's own plane left out (a less noisy target when the planes next to "
                   "focus are nearly as sharp; default 0)")
    p.add_argument("--axes", help=AXES_HELP)
    p.add_argument("--license", help="SPDX licence of the images fine-tuned on; the card "
                   "records the starting weights' AND this one (NOASSERTION when not given, "
                   "which a BioImage Model Zoo export refuses)")
    _add_training_options(
        p, steps=None, lr=None,
        defaults=f"default {PAIRED_STEPS} with pairs, {SELF_ADAPT_MAX_STEPS} with --self; "
        "both time-boxed by --minutes",
        lr_default=f"default {PAIRED_LR:g} with pairs, {SELF_ADAPT_LR:g} with --self")
    p.add_argument("--minutes", type=float,
                   help=f"time limit; --steps is then the upper bound (default {PAIRED_MINUTES:g} "
                   f"with pairs, {SELF_ADAPT_MINUTES:g} with --self)")
    p.add_argument("--patience", type=int, default=DEFAULT_PATIENCE,
                   help="stop after this many validations without a better one (default "
                   "%(default)s)")
    p.add_argument("--no-augment", action="store_true",
                   help="no flips and 90-degree rotations of the patches")
    _add_small_data_options(p)
    p.add_argument("--min-gain", type=float, default=DEFAULT_MIN_GAIN_DB, metavar="DB",
                   help="keep fine-tuned weights only if they beat the starting ones on the "
                   "held-out region by this many dB; otherwise the starting weights are "
                   "returned (default %(default)g)")
    p.add_argument("--checkpoint-dir",
                   help="keep best/last .safetensors (with model cards) and last.pt here")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --checkpoint-dir from its last checkpoint")
    p.add_argument("--self", dest="self_images", action="append", metavar="IMG",
                   help="adapt without a reference to these blurry images (repeatable; "
                   "needs --psf; default --minutes 3)")
    p.add_argument("--self-prior", default="auto", choices=["auto", "start", "psf_aware"],
                   help="with --self: what the adapted network is pulled toward where the PSF "
                   "says nothing: the PSF-aware default's result with the same PSF "
                   "(psf_aware), the unadapted network's own (start); auto: psf_aware for a "
                   "blind network, start for a PSF-aware one")
    p.add_argument("--seed", type=int, help="seed of the patch (and --self: noise) draws "
                   "(default 0; a run ended by --steps, not --minutes, repeats exactly)")
    p.add_argument("--psf", help="the PSF of the --self images, or of the blurry pairs when "
                   "--weights is PSF-aware (wiener_unet.*): a TIFF, gaussian:, disk:, astig:, "
                   "widefield: or confocal:, or estimate (--self only); forms and examples "
                   "below the options")
    p.add_argument("--noise-scale-calibration", default="before-and-after",
                   choices=["before-and-after", "after", "off"],
                   help="PSF-aware --weights with pairs: try noise scales 0.5-2 on the held-out "
                   "region before training (train at the best) and after it (the weights then "
                   "always run at the best; --noise-scale multiplies it), after only, or never "
                   "(default %(default)s)")
    p.set_defaults(func=cmd_finetune)
