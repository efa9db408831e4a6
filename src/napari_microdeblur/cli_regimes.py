"""The regime options of `microdeblur train`: the regime and its paper, the content loss, the
loss weights, the image sets without partners (--unlabelled, --unpaired-blurry/--unpaired-sharp),
the VGG weights of the perceptual loss and --export-psf, each checked before any training."""

from __future__ import annotations

import argparse
import math
import re
import sys
import textwrap
from pathlib import Path

from .cli import UserError
from .core.shown import shown_path

#: loss term -> its option; each regime's defaults say where they come from (a paper or ours:
#: ``Regime.loss_weight_sources``)
LOSS_WEIGHT_OPTIONS = {
    "content": "--content-weight",
    "adversarial": "--adv-weight",
    "cycle": "--cycle-weight",
    "psf": "--psf-sparsity",
    "psf_spectrum": "--psf-spectrum",
    "unsupervised": "--unsupervised-weight",
    "perceptual": "--perceptual-weight",
}
TERM_HELP = {
    "psf_spectrum": "psf_cyclegan: weight of the power-spectrum match of the PSF (ours, not "
                    "the paper's; default 10); 0 also keeps the configured starting PSF instead "
                    "of the Gaussian fitted to the spectra",
}
#: (regime, term) -> where its default comes from, in options: the core's words name no
#: option ('0.02 ... with VGG weights' read as a switch of its own; it is --vgg-weights)
SOURCE_WORDS = {
    ("supervised", "perceptual"): "ours: off; --vgg-weights VGG.pth alone turns it on at "
                                  "0.02, SGPN's; with the offline microscopy features give "
                                  "--perceptual-weight W",
}
#: regime -> its image sets without partners (iter_fit's argument -> option); all required
SOURCE_OPTIONS = {
    "sgpn": {"unpaired": "--unlabelled"},
    "psf_cyclegan": {"unpaired": "--unpaired-blurry", "unpaired_sharp": "--unpaired-sharp"},
}
TIFF_SUFFIXES = (".tif", ".tiff")


class OneSpec(argparse.Action):
    """An image option taken once: a second --sharp A --sharp B silently replaced A."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, self.dest, None) is not None:
            parser.error(f"{option_string} given twice; give it once: one file, a folder or a "
                         "quoted glob such as 'images/*.tif'")
        setattr(namespace, self.dest, values)


def shell_json(text: str) -> str:
    """The core's ``discriminator={"n_layers": 3}`` quoted for the shell: said as
    ``--discriminator-config '{"n_layers": 3}'`` (unquoted, the shell splits it)."""
    return re.sub(r"\bdiscriminator=(\{[^{}']*\})", r"discriminator='\1'", text)


def _dest(option: str) -> str:
    return option.lstrip("-").replace("-", "_")


def regimes_epilog() -> str:
    """The regimes, the paper each follows and their default loss weights (for --help; read
    from ``regime_facts``, which the regime classes take theirs from, without torch)."""
    from .core.training.regime_facts import REGIME_FACTS

    lines = [textwrap.fill("regimes (--regime), the paper each follows, and its default loss "
                           "weights with where each comes from (a paper, or ours):", 88)]
    for name, regime in REGIME_FACTS.items():
        needs = " ".join(f"{o} IMAGES" for o in SOURCE_OPTIONS.get(name, {}).values())
        text = (f"{name}: {regime.summary}. Default weights: {_weight_sources(name, regime)}."
                + (f" Needs {needs}." if needs else "")
                + f" Keeps the {regime.checkpoint_criterion.split(' (')[0]} checkpoint.")
        lines.append(textwrap.fill(text, 88, initial_indent="  ", subsequent_indent="    ",
                                   break_on_hyphens=False))
    lines.append(textwrap.fill("The perceptual loss uses VGG-19 with --vgg-weights (ImageNet "
                               "weights are not downloaded), else offline microscopy features "
                               "(--perceptual microscopy, the default); --perceptual none "
                               "leaves it out and a note says so. supervised's perceptual "
                               "weight is 0: --perceptual-weight W turns the term on (with the "
                               "microscopy features, or VGG-19 with --vgg-weights, which alone "
                               "sets 0.02).", 88))
    return "\n".join(lines)


def _weight_sources(name: str, regime) -> str:
    """The regime's default weights, each group followed by where it comes from: --help said
    "the regime's paper" of weights the paper does not give (gran_gan's, psf_cyclegan's
    priors)."""
    groups: list[tuple[str, list[str]]] = []
    for term, weight in regime.loss_weights.items():
        text = f"{LOSS_WEIGHT_OPTIONS.get(term, term)} {weight:g}"
        source = SOURCE_WORDS.get((name, term)) or regime.loss_weight_sources.get(
            term, "the paper's")
        if groups and groups[-1][0] == source:
            groups[-1][1].append(text)
        else:
            groups.append((source, [text]))
    words = []
    for source, texts in groups:
        fixed = [t.split()[0] for t in texts if not t.startswith("--")]
        no_option = f"; {' and '.join(fixed)} {'have' if fixed[1:] else 'has'} no option"
        words.append(f"{', '.join(texts)} ({source}{no_option if fixed else ''})")
    return "; ".join(words)


def _weight_help(term: str) -> str:
    """An option's help: its default in each regime that has the term."""
    from .core.training.regime_facts import REGIME_FACTS

    users = [r for r, facts in REGIME_FACTS.items() if term in facts.loss_weights]
    defaults = ", ".join(f"{r} {REGIME_FACTS[r].loss_weights[term]:g}" for r in users)
    many = len(users) > 1
    return (f"weight of the {'PSF sparsity' if term == 'psf' else term} loss term "
            f"(default{'s' if many else ''}: {defaults}; where {'each' if many else 'it'} "
            "comes from, a paper or ours: see the regimes below)")


def add_regime_options(p: argparse.ArgumentParser) -> None:
    """The regime options of `train`, from ``regime_facts`` (torch-free: `train --help`
    imported torch for them, 1.3 s and 200 MB)."""
    from .core.training import regime_facts as facts

    p.add_argument("--regime", default="supervised", choices=tuple(facts.REGIME_FACTS),
                   help="training regime (see below; default supervised)")
    p.add_argument("--loss", choices=facts.LOSSES,
                   help="content loss (default: multiscale for c2f_unet, as its paper; l1 "
                   "otherwise); multiscale sums L1 over the network's scales (a one-level "
                   "c2f_unet: plain L1, eq. 5 with N=1), or over 2x-pooled copies of the output "
                   "of a network without scales (gran, sgpn); psf_cyclegan has none")
    for term, option in LOSS_WEIGHT_OPTIONS.items():
        p.add_argument(option, type=float, metavar="W",
                       help=TERM_HELP.get(term) or _weight_help(term))
    p.add_argument("--unlabelled", metavar="IMAGES", action=OneSpec,
                   help="sgpn: blurry images without sharp partners")
    p.add_argument("--unpaired-blurry", metavar="IMAGES", action=OneSpec,
                   help="psf_cyclegan: blurry images (domain A)")
    p.add_argument("--unpaired-sharp", metavar="IMAGES", action=OneSpec,
                   help="psf_cyclegan: sharp images of other fields (domain B); also the "
                   "validation images when --sharp is not given")
    p.add_argument("--vgg-weights", metavar="VGG.pth",
                   help="torchvision VGG-19 state dict (.pth/.safetensors) for the perceptual "
                   "loss of gran_gan and sgpn (default: see --perceptual)")
    p.add_argument("--perceptual", choices=facts.PERCEPTUAL_FEATURES,
                   help="features of the perceptual loss without --vgg-weights: microscopy "
                   "(the encoder of the bundled c2f_unet.em_v2, offline) or none (left out); "
                   f"default: {facts.DEFAULT_PERCEPTUAL_FEATURES}")
    p.add_argument("--discriminator-config", metavar="JSON",
                   help="the discriminator's config fields (adversarial regimes) as a JSON "
                   "object, inline ('{\"base_channels\": 32}') or in a .json file")
    p.add_argument("--export-psf", metavar="PSF.tif",
                   help="psf_cyclegan: write the learned PSF as a TIFF (usable with --psf)")
    p.add_argument("--psf-lr", type=float, metavar="LR",
                   help="psf_cyclegan: learning rate of the PSF layer (default 0.01)")
    p.add_argument("--psf-warmup", type=int, metavar="STEPS",
                   help="psf_cyclegan: first steps fit only the PSF (default 30 %% of --steps)")


def check_regime_options(args) -> None:
    """Options that contradict the regime, before any image is read."""
    from .core.training import get_regime, list_regimes

    regime = get_regime(args.regime)
    for term, option in LOSS_WEIGHT_OPTIONS.items():
        value = getattr(args, _dest(option))
        if value is None:
            continue
        if term not in regime.loss_weights:
            users = [r for r in list_regimes() if term in get_regime(r).loss_weights]
            raise UserError(f"{option} is for the regimes {users}, not {args.regime!r}")
        if not (math.isfinite(value) and value >= 0):
            raise UserError(f"{option} {value}: give a finite weight >= 0")
    wanted = SOURCE_OPTIONS.get(args.regime, {})
    for option in sorted({o for opts in SOURCE_OPTIONS.values() for o in opts.values()}):
        given = getattr(args, _dest(option)) is not None
        if given and option not in wanted.values():
            users = [r for r, opts in SOURCE_OPTIONS.items() if option in opts.values()]
            raise UserError(f"{option} is for the regime {' or '.join(users)}, not "
                            f"{args.regime!r}")
        if not given and option in wanted.values():
            raise UserError(f"--regime {args.regime} needs {option} IMAGES (images without "
                            "partners); it does not draw them from the training pairs")
    if args.vgg_weights is not None:
        if "perceptual" not in regime.loss_weights:
            raise UserError(f"--vgg-weights: the {args.regime} regime has no perceptual loss")
        if not Path(args.vgg_weights).is_file():
            raise UserError(f"--vgg-weights {shown_path(args.vgg_weights)} is not a file")
    elif args.perceptual_weight and _perceptual_features(args) == "none":
        raise UserError("--perceptual-weight needs --vgg-weights VGG.pth (VGG-19 weights are "
                        "not downloaded) or --perceptual microscopy")
    if args.perceptual is not None and "perceptual" not in regime.loss_weights:
        raise UserError(f"--perceptual: the {args.regime} regime has no perceptual loss")
    _check_perceptual_runs(args, regime)
    if args.loss is not None and "content" not in regime.loss_weights:
        # psf_cyclegan's cycle loss is L1 by its paper: --loss was taken and not used
        raise UserError(f"--loss: the {args.regime} regime has no content loss; leave out "
                        "--loss")
    if args.discriminator_config and not regime.adversarial:
        raise UserError(f"--discriminator-config is for the adversarial regimes, not "
                        f"{args.regime!r}")
    for option in ("--psf-lr", "--psf-warmup"):
        if getattr(args, _dest(option)) is not None and not regime.learns_psf:
            raise UserError(f"{option} is for the regime psf_cyclegan, not {args.regime!r}")
    if args.export_psf:
        _check_psf_output(args.export_psf, args.overwrite, _image_specs(args))


def _check_perceptual_runs(args, regime) -> None:
    """--perceptual names the features of a term that runs: it was accepted and did nothing
    beside --vgg-weights (VGG-19 is used) or where the weight is 0 (supervised's default)."""
    if args.perceptual is None:
        return
    if args.vgg_weights is not None:
        raise UserError(f"--perceptual {args.perceptual}: with --vgg-weights the perceptual "
                        "loss uses VGG-19; leave out --perceptual")
    weight = (regime.loss_weights["perceptual"] if args.perceptual_weight is None
              else args.perceptual_weight)
    if args.perceptual == "microscopy" and weight == 0:
        given = "by default" if args.perceptual_weight is None else "as given"
        raise UserError(f"--perceptual microscopy: the {args.regime} regime's perceptual weight "
                        f"is 0 {given}, so the term would not run; add --perceptual-weight W "
                        "(W > 0), or leave out --perceptual")


def _image_specs(args) -> list[str]:
    return [spec for spec in (args.sharp, args.blurry, args.unlabelled, args.unpaired_blurry,
                              args.unpaired_sharp) if spec]


def _check_psf_output(path: str, overwrite: bool, specs: list[str]) -> None:
    from .core.files import find_inputs
    from .core.io_write import check_output_path

    out = Path(path)
    if out.suffix.lower() not in TIFF_SUFFIXES:
        raise UserError(f"--export-psf {shown_path(path)} must end in .tif or .tiff")
    # --overwrite replaced a training image with the PSF; the user's images are never replaced
    for spec in specs if out.is_file() else ():
        try:
            found = find_inputs(spec)
        except OSError:  # refused, with its own message, when the images are read
            continue
        if any(out.samefile(f) for f in found):
            raise UserError(f"--export-psf {shown_path(path)} is one of the training images; give "
                            "another name (the images are never replaced)")
    try:  # the folder probed now: it was found unwritable only after the training
        check_output_path(out, overwrite=overwrite, suffixes=TIFF_SUFFIXES)
    except (ValueError, OSError) as error:
        raise output_refused(error, "--export-psf", out) from None


def output_refused(error: Exception, option: str, path: Path) -> UserError:
    """The core's refusal of ``path`` (``io_write.check_output_path``) naming the ``option``
    that gave it ('output X is read-only' -> '--out X is read-only') and the options to
    change (cli_words, with these commands' options)."""
    from .cli_words import in_cli_words

    text, named = str(error), f"output {shown_path(path)}"
    text = in_cli_words(text, {"overwrite": "--overwrite", "weights": "--weights"})
    return UserError(f"{option}{text[len('output'):]}" if text.startswith(named)
                     else f"{option}: {text}")


def check_model_fits(args, model) -> None:
    """--export-psf needs a model with a PSF layer; the regime may need more of the model."""
    from .core.training import get_regime

    if args.export_psf and not callable(getattr(model, "blur", None)):
        raise UserError(f"--export-psf: --arch {args.arch} has no PSF to export (only "
                        "psf_cyclegan learns one)")
    if args.export_psf and not get_regime(args.regime).learns_psf:
        # the PSF layer is not trained: its starting Gaussian was written as "learned"
        raise UserError(f"--export-psf: --regime {args.regime} does not learn the PSF of --arch "
                        f"{args.arch}; use --regime psf_cyclegan or leave out --export-psf")
    try:
        get_regime(args.regime)(None).check_model(model)
    except ValueError as error:
        raise UserError(f"--regime {args.regime} with --arch {args.arch}: {error}") from None


def choose_spatial_dims(args, arch_config: dict, axes_by_option: dict[str, list[str]]) -> None:
    """Set an architecture's ``spatial_dims`` from the images when --config leaves it out
    (z-stacks: 3, else 2), and refuse a 3D model on 2D images and a 2D one on z-stacks."""
    from .core import registry

    if "spatial_dims" not in registry.get_arch(args.arch).config_cls.model_fields:
        return  # a 2D-only architecture: z-stacks are trained plane by plane
    stacks = {o for o, all_axes in axes_by_option.items() if any("Z" in a for a in all_axes)}
    flat = {o for o, all_axes in axes_by_option.items() if any("Z" not in a for a in all_axes)}
    if stacks and flat and "spatial_dims" not in arch_config:  # no setting fits both: say so
        z, f = sorted(stacks)[0], sorted(flat)[0]
        raise UserError(f"{z} has z-stacks and {f if f != z else 'also'} 2D images: give only "
                        "z-stacks (a 3D model) or only 2D images")
    dims = arch_config.setdefault("spatial_dims", 3 if stacks else 2)
    refuse_3d_outside_cycle(args, dims, sorted(stacks))
    paired = [o for o in ("--sharp", "--blurry") if axes_by_option.get(o)]
    if dims == 3 and paired:  # a 3D model trains on the unpaired sets alone, unvalidated
        raise UserError(f"--arch {args.arch} with spatial_dims=3 trains on --unpaired-blurry "
                        f"and --unpaired-sharp alone, without validation; leave out "
                        f"{' and '.join(paired)}")
    if dims == 3 and args.degradation is not None:  # nothing is blurred synthetically
        raise UserError(f"--degradation {args.degradation}: --arch {args.arch} with "
                        "spatial_dims=3 trains on --unpaired-blurry and --unpaired-sharp alone, "
                        "without validation, and blurs nothing: leave out --degradation")
    if dims == 3 and flat:
        raise UserError(f"--arch {args.arch} with spatial_dims=3 trains on z-stacks, but "
                        f"{sorted(flat)[0]} has 2D images; give z-stacks or set spatial_dims "
                        "2 in --config")
    if dims == 2 and stacks:
        raise UserError(f"--arch {args.arch} with spatial_dims=2 got z-stacks in "
                        f"{sorted(stacks)[0]}; give 2D images or set spatial_dims 3 in --config")


def refuse_3d_outside_cycle(args, dims: int, stacks: list[str]) -> None:
    """A 3D model trains in psf_cyclegan only (on unpaired z-stacks): in another regime the
    checks that follow contradicted each other (leave out --sharp, then: needs --sharp)."""
    if dims != 3 or args.regime == "psf_cyclegan":
        return
    why = f"z-stacks in {stacks[0]}" if stacks else "spatial_dims 3 in --config"
    raise UserError(f"--arch {args.arch} in 3D ({why}) trains in --regime psf_cyclegan only; "
                    f"give that regime, or 2D images and spatial_dims 2 in --config for "
                    f"--regime {args.regime}")


def check_image_specs(args) -> None:
    """Each image option names files that exist, said with the option ('input file 'nosuch/'
    does not exist' named none), before any image is read."""
    from .core.files import find_inputs

    for option in ("--sharp", "--blurry", *sorted({o for opts in SOURCE_OPTIONS.values()
                                                   for o in opts.values()})):
        spec = getattr(args, _dest(option))
        if spec is None:
            continue
        try:
            find_inputs(spec)
        except OSError as error:
            raise UserError(f"{option}: {error}") from None


def _perceptual_features(args) -> str:
    from .core.training.regime_facts import DEFAULT_PERCEPTUAL_FEATURES

    return args.perceptual if args.perceptual is not None else DEFAULT_PERCEPTUAL_FEATURES


def training_options(args, model, read_config) -> dict:
    """TrainingConfig fields of the regime options (the loss default follows the model)."""
    from .core.training import TrainingConfig, get_regime

    # the multi-scale loss of the C2F U-Net paper needs the network's pyramid of outputs
    loss = args.loss or ("multiscale" if hasattr(model, "forward_pyramid") else "l1")
    weights = {term: getattr(args, _dest(option)) for term, option in LOSS_WEIGHT_OPTIONS.items()
               if getattr(args, _dest(option)) is not None}
    options = {"regime": args.regime, "loss": loss, "loss_weights": weights}
    for field in ("psf_lr", "psf_warmup"):
        if getattr(args, field) is not None:
            options[field] = getattr(args, field)
    if get_regime(args.regime).learns_psf:  # the values used, not null, in the model card
        config = TrainingConfig.from_options({"steps": args.steps, **options})
        options["psf_lr"] = config.psf_learning_rate()
        if args.minutes is None:  # with --minutes the warm-up is also a share of the time
            options["psf_warmup"] = config.psf_warmup_steps()
    if args.vgg_weights is not None:
        options["vgg_weights"] = args.vgg_weights
    options["perceptual_features"] = _perceptual_features(args)
    if args.discriminator_config:
        options["discriminator"] = read_config(args.discriminator_config,
                                               "--discriminator-config")
    return options


def read_unpaired(args, read_images, one_kind, rgb: bool) -> tuple[dict, dict]:
    """The regime's image sets without partners, read and checked (name -> (arrays, axes,
    description); :func:`unpaired_sources` makes patch sources of them once the model's
    dimensionality is known), and the axes of their images by option."""
    from .cli_unpaired import read_sets

    return read_sets(args, SOURCE_OPTIONS.get(args.regime, {}), read_images, one_kind, rgb)


def unpaired_sources(sets: dict, spatial_dims: int, regime: str) -> dict:
    """Patch sources of :func:`read_unpaired`'s sets: z-stacks whole for a 3D model, else
    plane by plane; flipped and turned unless the regime says otherwise."""
    from .core import data
    from .core.data_volumes import UnpairedVolumes
    from .core.training import get_regime

    kind = UnpairedVolumes if spatial_dims == 3 else data.UnpairedImages
    fixed = get_regime(regime).unaugmented_sources
    return {name: kind(arrays, axes=axes, description=description, augment=name not in fixed)
            for name, (arrays, axes, description) in sets.items()}


def finish_psf_run(args, out: Path, ckdir: Path, model, result) -> str:
    """After a run that learns a PSF: the card of ``out`` says where the PSF-only warm-up
    ended (and that the deblurring network was not trained where the run ended inside it),
    and --export-psf writes the PSF, checked (``core.psf_quality``). Returns '' or what the
    closing line says of a run that ended inside the warm-up."""
    from .core.training import get_regime
    from .core.training.checkpoints import load_training_checkpoint, run_folder
    from .core.training.regimes.cycle import psf_run_state

    if not get_regime(args.regime).learns_psf:
        return ""
    try:  # the regime's state: where the warm-up ended, the PSF the run started from
        state = load_training_checkpoint(Path(ckdir) / "last.pt").get("regime_state")
    except (ValueError, OSError):
        state = None
    run = psf_run_state(state)
    untrained = ""
    if run["warmup_ended"] is None and state is not None and result.steps_done:
        more = (f"more --minutes (the warm-up takes {_warmup_share()} of them)"
                if args.psf_warmup is None else
                f"more --steps or --minutes than --psf-warmup {args.psf_warmup}, or a smaller "
                "--psf-warmup")
        untrained = (f"the run ended inside the PSF-only warm-up (step {result.steps_done}), so "
                     f"the deblurring network was not trained: give {more}")
    _note_warmup(out, run["warmup_ended"], result.steps_done if untrained else None)
    if args.export_psf:  # written beside no user's file, then copied
        with run_folder(None, "train") as scratch:
            export_learned_psf(model, str(scratch), args.export_psf, weights=str(out),
                               steps=result.steps_done, minutes=result.seconds / 60, run=run)
    return untrained


def _warmup_share() -> str:
    from .core.training.config import PSF_WARMUP_SHARE

    return f"{PSF_WARMUP_SHARE:.0%}"


def _note_warmup(out: Path, ended: int | None, untrained_at: int | None) -> None:
    """The card of ``out``: the step the cycle phase began (``psf_warmup`` is null in it
    when the warm-up was a share of --minutes), and, for a run that ended inside the warm-up
    (at step ``untrained_at``), that its deblurring network was not trained (``info``)."""
    from .core.checkpoint import load_model, save_weights

    model, card = load_model(out)
    update = {"metrics": {**card.metrics, "psf_warmup_ended_at_step": ended}}
    if untrained_at is not None:
        why = (f"the deblurring network was not trained (the run ended inside the PSF-only "
               f"warm-up, at step {untrained_at}): only its PSF was fitted")
        update["description"] = f"{card.description}; {why}" if card.description else why
    save_weights(model, out, card.model_copy(update=update))


def export_learned_psf(model, folder: str, path: str, *, weights: str, steps: int | None = None,
                       minutes: float | None = None, run: dict | None = None) -> None:
    """Write the model's learned PSF to ``path`` (via a temporary file: never half-written),
    checked against the PSF its run started from (``run``: ``psf_run_state``); a degenerate
    one started from the spectra is replaced by that start, with a warning line."""
    from .core.archs.psf_cyclegan import export_psf
    from .core.files import copy_atomically
    from .core.psf_quality import choose_export, export_record, write_psf

    run = run or {}
    learned = export_psf(model, Path(folder) / "learned_psf_raw.tif")
    start = run.get("start")
    chosen = choose_export(learned, None if start is None else start.numpy(),
                           run.get("start_kind"))
    record = export_record(chosen, weights=weights, steps=steps, minutes=minutes,
                           start_kind=run.get("start_kind"))
    tmp = Path(folder) / "learned_psf.tif"
    write_psf(tmp, chosen, record, overwrite=True)
    copy_atomically(tmp, Path(path))
    what = ("learned PSF" if chosen.which == "learned"
            else "the run's starting PSF (spectral fit; not the degenerate learned one)")
    print(f"{path}: {what}, {'x'.join(map(str, chosen.kernel.shape))} px, sum 1; learned "
          f"kernel: {chosen.figures.words()}", file=sys.stderr)


def hold_out_validation(args, sets: dict, train) -> str:
    """What a 2D psf_cyclegan run is validated on, in words (the card and the closing line
    say it). Without --sharp, the --unpaired-sharp images held out for validation leave its
    sharp set in ``sets``: they trained the cycle too, so the score was on images it had seen
    (and blurred by a synthetic degradation, not the blur it learns)."""
    from .cli_training_data import synthetic_degradation
    from .core.files import find_inputs

    if args.blurry:
        return f"held-out pairs of --blurry {args.blurry} and --sharp {args.sharp}"
    blurred = (f"degradation {synthetic_degradation(args)} (synthetic, not the blur of "
               "--unpaired-blurry)")
    if args.sharp:
        return f"sharp images --sharp {args.sharp}, {blurred}"
    arrays, axes, description = sets["unpaired_sharp"]
    names = [path.name for path in find_inputs(args.unpaired_sharp)]
    trained = [any(g == n or g.startswith(f"{n}:") for g in train.groups) for n in names]
    held = [n for n, kept in zip(names, trained, strict=True) if not kept]
    if not held:  # one image: split_validation's note says it validates on it
        return f"sharp images {names[0]} of --unpaired-sharp (also trained on), {blurred}"
    sets["unpaired_sharp"] = ([a for a, kept in zip(arrays, trained, strict=True) if kept], axes,
                              f"{description} less {', '.join(held)} (held out for validation)")
    return f"sharp images {', '.join(held)} held out of --unpaired-sharp, {blurred}"


def card_data(args, train, degradation: str, extra: dict,
              validated_on: str = "") -> tuple[str, str]:
    """(training_data, degradation) of the model card. psf_cyclegan learns from its unpaired
    sets alone: the images of ``validated_on`` (:func:`hold_out_validation`) only score it."""
    sets = [s.description for s in extra.values()]
    if args.regime != "psf_cyclegan":
        return "; ".join([train.description, *sets]), degradation
    if train is extra.get("unpaired_sharp"):  # z-stacks: no validation set
        return "; ".join(sets), degradation
    return "; ".join([*sets, f"validation: {validated_on}"]), "unknown (unpaired images)"


def say_trained(args, out: Path, result, validated_on: str, untrained: str = "") -> int:
    """The notes of the run's end and its closing line (``untrained``: why the network was
    not trained, said instead of advice that would not help)."""
    from .core.training import get_regime
    from .core.training.regimes.base import KEEP_LAST

    for note in result.notes:  # e.g. the perceptual loss left out without VGG weights
        print(f"note: {note}", file=sys.stderr)
    metrics = result.best_metrics or {}
    criterion = get_regime(args.regime).checkpoint_criterion
    kept = criterion.split(" (")[0]
    if criterion == KEEP_LAST and args.checkpoint_dir:  # its best.safetensors is no best
        kept += (f" checkpoint ({shown_path(Path(args.checkpoint_dir) / 'best.safetensors')} "
                 "is that last validated step too)")
    else:
        kept += " checkpoint"
    psnr, start = (metrics.get("val_psnr", float("nan")),
                   result.baseline.get("val_psnr", float("nan")))
    more = "--minutes" if result.stopped == "time_limit" else "--steps"  # the bound it hit
    # a kept checkpoint that scores below the blurry input itself is no result to trust
    worse = (": below the input, these weights make the validation images worse"
             if psnr < start else "")
    starting = starting_kept(args, result)
    if untrained:
        worse = f"; {untrained}"
    elif starting:  # step 0 kept: "trained" weights that no step changed
        kept += f"; {STARTING_KEPT}"
        worse += f"; {starting}"
    elif worse:
        worse += f" (more {more}, a lower --lr or more images)"
    # psf_cyclegan's validation is no test of the blur it learns: said what it is on
    on = f" on {validated_on}" if validated_on else ""
    # a run with no validation (3D psf_cyclegan trains on unpaired stacks alone) printed
    # "validation PSNR nan dB (input nan dB)"
    scored = (f"validation PSNR {psnr:.2f} dB (input {start:.2f} dB){on}{worse}"
              if math.isfinite(psnr) else "no validation images (nothing to score)")
    timed = (f" (the --minutes {args.minutes:g} limit, before --steps {args.steps})"
             if result.stopped == "time_limit" else "")
    print(f"{out}: {args.arch}, {args.regime}, {result.steps_done} steps in "
          f"{result.seconds / 60:.1f} min{timed}, kept the {kept}; {scored}")
    return 0


#: what the closing line says when the kept checkpoint is step 0 (the card's words too,
#: ``core.training.checkpoints.starting_weights_kept``)
STARTING_KEPT = "no step beat the starting weights (step 0): these are the starting weights"


def starting_kept(args, result) -> str:
    """'' unless the kept checkpoint is the run's step 0 (validated): then what those weights
    are and what to change. Trained from scratch, they are the random initial weights."""
    metrics = result.best_metrics or {}
    if "val_psnr" not in metrics or int(metrics.get("step", -1)) != 0:
        return ""
    more = ("more --minutes (or --steps)" if result.stopped == "time_limit"
            else "more --steps (or --minutes)")
    if args.weights:
        return (f"the weights of --weights {args.weights}, unchanged: give {more}, a lower "
                "--lr or more images")
    # a tiny network trained from scratch may never beat the input (walkthrough: 20 steps of
    # a 4-channel c2f_unet kept its random weights, 10.98 dB against the input's 28.29 dB)
    larger = f", a larger --config than {args.config}" if args.config else ""
    return f"untrained (random) weights: give {more}{larger}, a lower --lr or more images"


def note_starting_kept(out: Path, words: str) -> None:
    """Add to the card of ``out`` what the kept step-0 weights are and what to change (the
    core's card says no step beat them; the options to change are the CLI's)."""
    from .core.checkpoint import load_model, save_weights

    model, card = load_model(out)
    description = f"{card.description}; {words}" if card.description else words
    save_weights(model, out, card.model_copy(update={"description": description}))
