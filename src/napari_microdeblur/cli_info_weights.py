"""`microdeblur info` of weights, read as ``--weights`` reads them (``core.checkpoint``): a
``.safetensors`` file, a bundled name (``c2f_unet.em_v2``: 'input file does not exist'), a
BioImage Model Zoo ``.zip`` exported by napari-microdeblur, a ``.pt``/``.pth`` that holds
``.safetensors`` weights under another name, and a plain PyTorch state dict, which has no model
card: what it holds, the configurations its tensors fit and how to convert it (these were
read as images and sent the user to a bioio plugin). Keras weights (``.keras``, an ``.h5`` whose
root names Keras attributes) get the line ``--weights`` gives them, another ``.h5`` a line for
an HDF5 image and for Keras weights alike; any ``.zip`` but a zipped Zarr is read as a package
(``info model.h5`` sent the user to h5py, ``info other.zip`` to a bioio plugin). Read the same
way: deblur's refusal of PSF-aware weights without --psf, naming the PSF their card records
(``psf_given``)."""

from __future__ import annotations

import shlex
import zipfile
from pathlib import Path

from .cli_info_checkpoints import unknown_input_lines
from .core.card_checks import shown_text
from .core.shown import shown_path

#: endings of PyTorch pickles that ``--weights`` reads as state dicts (core.checkpoint)
STATE_DICT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")

#: HDF5 endings: Keras weights (CSBDeep/CARE, n2v weights_best.h5) or an image
HDF5_SUFFIXES = (".h5", ".hdf5")
#: attribute names Keras writes on an HDF5 file's root (save, save_weights), near its start
KERAS_MARKERS = (b"keras_version", b"layer_names", b"model_weights")
#: the files of a Zarr store, which a zipped Zarr holds (read as an image would be)
ZARR_FILES = ("zarr.json", ".zgroup", ".zarray", ".zattrs")

#: how ``info`` names a state dict by its file format
FORMATS = {"pytorch": "PyTorch state dict", "safetensors": ".safetensors state dict"}
#: what a state dict lacks that a model card holds
LACKS = ("architecture and configuration (it is read in the paper configuration of the "
         "architecture --method names), normalisation, training data and licence")


def weights_kind(path: str) -> str | None:
    """How ``--weights`` would read ``path``: 'bundled', 'zoo', 'safetensors' (also a file
    renamed to .pt or with no ending), 'state_dict', 'keras' (refused as --weights refuses
    it), 'hdf5' (an image or Keras weights: neither is read), 'checkpoint' (a training run's
    folder: its last.pt); None for an image (or nothing)."""
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix == ".safetensors":
        return "safetensors"
    if "/" not in path and "\\" not in path:  # a name, as load_model takes it
        from .core.bundled_table import live_table  # no torch (core.bundled imports it)

        if path in live_table():  # whatever the working folder holds
            return "bundled"
    if file.is_dir() and (file / "last.pt").is_file():
        return "checkpoint"  # a run's --checkpoint-dir (cli_info_checkpoints)
    if not file.is_file():
        return None
    if suffix == ".keras":
        return "keras"
    if suffix in HDF5_SUFFIXES:
        return "keras" if _names_keras(file) else "hdf5"
    if suffix == ".zip":  # a package has rdf.yaml; ours a .safetensors attachment too
        try:
            with zipfile.ZipFile(file) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError):
            return "zoo"  # read_bioimageio_zip says what is wrong with it
        # read_bioimageio_card says what a zip other than ours is; a zipped Zarr an image
        return None if any(n.rsplit("/", 1)[-1] in ZARR_FILES for n in names) else "zoo"
    if suffix in (*STATE_DICT_SUFFIXES, ""):
        from .core.state_dict_files import looks_like_safetensors

        if looks_like_safetensors(file):
            return "safetensors"
        return "state_dict" if suffix else None
    return None


def _names_keras(file: Path) -> bool:
    """Whether an HDF5 file's first MiB names the root attributes Keras writes."""
    try:
        with open(file, "rb") as f:
            head = f.read(1 << 20)
    except OSError:
        return False
    return any(marker in head for marker in KERAS_MARKERS)


def _not_weights(path: str, kind: str) -> None:
    """Raise the line for Keras weights (``--weights``'s) or an HDF5 file of either kind."""
    from .core.checkpoint import load_model

    if kind == "keras":
        load_model(path)  # raises: Keras weights cannot be read, run them in their own tool
    from .core.io_bioio import not_read

    raise ValueError(f"{shown_path(path)}: {not_read(Path(path))}; if it holds Keras weights "
                     "(CSBDeep/CARE or n2v .h5), they are not a napari-microdeblur network: "
                     "run them in their own tool")


def _card_info(path: str, card, weights: dict) -> dict:
    from .core.catalog import card_image_type, card_training_sets

    return {"file": str(path), "weights": weights, "model_card": card.model_dump(mode="json"),
            "image_type": card_image_type(card),
            "training_sets": list(card_training_sets(card))}


def _bundled_card(name: str):
    """The card of bundled weights, their file checked against its sha256 as a load does."""
    from .core import bundled
    from .core.checkpoint import read_card, sha256_file

    path = bundled.bundled_path(name)
    if sha256_file(path) != bundled.BUNDLED_WEIGHTS[name].sha256:
        raise ValueError(f"{name}: sha256 mismatch: the file {path} is corrupt or replaced; "
                         "reinstall napari-microdeblur")
    card = read_card(path)
    card.source = name
    return card


def weights_info(path: str, kind: str) -> dict:
    """``info --json`` of weights: the model card (``weights``: how they are read), or for a
    state dict what it holds and lacks."""
    from .core.checkpoint import read_card

    if kind == "bundled":
        return _card_info(path, _bundled_card(path),
                          {"kind": "bundled", "use": f"--method {path}",
                           "start_from": f"--weights {path}"})
    if kind == "zoo":
        from .core.export import read_bioimageio_card

        card = read_bioimageio_card(path)
        return _card_info(path, card, {"kind": "bioimageio_zip", "attachment": card.source})
    if kind in ("state_dict", "checkpoint"):  # a run's last.pt or best.pt: said as such
        from .cli_info_checkpoints import checkpoint_info

        found = checkpoint_info(path)
        return found if found is not None or kind == "checkpoint" else state_dict_info(path)
    if kind in ("keras", "hdf5"):
        _not_weights(path, kind)
    if not _has_card(path):  # a state dict saved as .safetensors: said as a .pt's is
        return state_dict_info(path, safetensors=True)
    from .core.checkpoint import earlier_layout

    weights = {"kind": "safetensors"}
    if Path(path).suffix.lower() != ".safetensors":  # renamed: --weights reads it so too
        weights["renamed"] = str(Path(path).with_suffix(".safetensors").name)
    card = read_card(path)  # first: a damaged file's line is the card's
    if said := earlier_layout(path):  # an earlier release's tensors: as a load says it
        weights["earlier_layout"] = said
    return _card_info(path, card, weights)


def _has_card(path: str) -> bool:
    """Whether a safetensors file's metadata holds a model card (a damaged or unreadable
    file counts as having one: reading the card says what is wrong with it)."""
    from .core import state_dict_files as sd_files
    from .core.checkpoint import CARD_KEY

    try:
        meta, _ = sd_files.read_safetensors_file(Path(path), str(path), tensors=False)
    except ValueError:
        return True
    return CARD_KEY in meta


def state_dict_info(path: str, *, safetensors: bool = False) -> dict:
    """What a plain state dict (a .pt, or a ``safetensors`` file without a model card) holds:
    tensors, parameters, the architecture they are named as, the configurations they fit,
    and how to convert it to a file with a model card."""
    from .core import state_dict_files as sd_files

    if safetensors:
        tensors = sd_files.read_safetensors_file(Path(path), str(path))[1]
    else:
        tensors = sd_files.read_state_dict_file(Path(path), str(path))
    like = sd_files.named_as(list(tensors))
    found = {"format": "safetensors" if safetensors else "pytorch", "tensors": len(tensors),
             "parameters": int(sum(t.numel() for t in tensors.values())),
             "named_as": like[0] if like else None, "fits": [], "lacks": LACKS}
    if like:
        found["fits"] = [{"config": config, "from": label}
                         for label, config in sd_files.fitting_configs(like[0], tensors)]
        known = found["fits"][0]["config"] if len(found["fits"]) == 1 else "{...}"
        found["convert"] = sd_files.conversion_code(str(path), like[0], known)
        found["converted"] = sd_files.converted_name(str(path))
    return {"file": str(path), "state_dict": found}


def state_dict_lines(info: dict) -> list[str]:
    """The lines ``info`` prints for a state dict (or a run's checkpoint file or folder)."""
    if "training_checkpoint" in info:
        from .cli_info_checkpoints import checkpoint_lines

        return checkpoint_lines(info)
    found, arch = info["state_dict"], info["state_dict"]["named_as"]
    lines = [f"{info['file']}:",
             f"  {FORMATS.get(found.get('format'), FORMATS['pytorch'])} without a model card: "
             f"{found['tensors']} tensors, "
             f"{found['parameters']:,} parameters, "
             + (f"named as in a {arch} network" if arch else "named as in no microdeblur "
                "network: not weights napari-microdeblur can run")]
    if not arch:
        return lines
    fits = found["fits"]
    if not fits:
        lines.append(f"  configuration: none of {arch}'s known ones (paper, presets, bundled "
                     "weights') has these tensor shapes")
    for fit in fits:
        config = fit["config"] or "the paper configuration"
        lines.append(f"  fits {arch} config={config} ({fit['from']})")
    if len(fits) > 1:
        lines.append("  (these differ in what no tensor shape shows: use the one it was "
                     "trained with)")
    lines.append(f"  lacks: {found['lacks']}")
    if fits and not fits[0]["config"] and len(fits) == 1:
        lines.append(f"  use: --weights {info['file']} --method {arch}, or convert it as below")
    lines.append(f"  convert once, in Python (napari_microdeblur.core.checkpoint): "
                 f"{found['convert']}; then --weights {found['converted']}")
    return lines


def card_lines(info: dict) -> list[str]:
    """The lines ``info`` prints for a weights file: what a user chooses weights by."""
    card = info["model_card"]
    sets = info["training_sets"]
    data = (f"training splits of {', '.join(sets)}" if sets
            else " ".join(str(card.get("training_data") or "not stated").split()))
    return [f"{info['file']}:",
            f"  model card: {card['arch']} ({card['in_channels']}->{card['out_channels']} ch, "
            f"{card['spatial_dims']}D)",
            f"  image type: {info['image_type']}",
            f"  training data: {data}",
            f"  licence: {card.get('license')}", *_card_metric_lines(card)]


def _card_metric_lines(card: dict) -> list[str]:
    """The card's validation PSNR (the weights', the starting weights' and the unprocessed
    input's, where recorded), the pixel size trained at and its notes: a fine-tune kept below
    the input showed none of them."""
    metrics = card.get("metrics") if isinstance(card.get("metrics"), dict) else {}
    # psf_cyclegan's cards name the network's own val_psnr_network (as the docks read them)
    keys = ("val_psnr_network", "val_psnr", "val_psnr_start", "val_psnr_input")
    psnr = {k.replace("_network", ""): metrics[k] for k in keys
            if isinstance(metrics.get(k), (int, float))}
    lines = []
    if "val_psnr" in psnr:
        others = [f"{word} {psnr[k]:.2f} dB" for word, k in (
            ("starting weights", "val_psnr_start"), ("unprocessed input", "val_psnr_input"))
            if k in psnr]
        below = (", below the unprocessed input: these weights make images worse"
                 if psnr["val_psnr"] < psnr.get("val_psnr_input", float("-inf")) else "")
        lines.append(f"  validation PSNR: {psnr['val_psnr']:.2f} dB"
                     + (f" ({', '.join(others)}{below})" if others else ""))
        lines += unknown_input_lines(metrics)  # an earlier release's card: input not scored
    # which checkpoint the run kept (adversarial regimes: the last); older cards say it in
    # metrics.checkpoint only
    training = card.get("training") if isinstance(card.get("training"), dict) else {}
    if isinstance(kept := training.get("checkpoint_kept") or metrics.get("checkpoint"), str):
        lines.append(f"  checkpoint kept: {kept}")
    if isinstance(metrics.get("pixel_size_um"), (int, float)):
        lines.append(f"  trained at pixel size: {metrics['pixel_size_um']:.4g} um")
    lines += _finetune_lines(training, metrics)
    if card.get("description"):
        lines.append(f"  notes: {' '.join(str(card['description']).split())}")
    return lines


def _finetune_lines(training: dict, metrics: dict) -> list[str]:
    """What a fine-tuning run chose that later runs or a reader need: which weights trained,
    the replay share and its images, the intensity jitter and flips and rotations, the PSF a
    PSF-aware network was fine-tuned with and the noise scale calibrated for it (all in the
    card; info had printed none of them)."""
    lines = []
    if training.get("trainable", "all") != "all":
        lines.append(f"  weights trained: {training['trainable']} (the rest kept)")
    if training.get("replay"):
        source = training.get("replay_from") or "not recorded"
        lines.append(f"  replay: {training['replay']:g} of each batch (images: {source})")
    jitter = training.get("intensity_jitter")
    if isinstance(training.get("augment"), bool) and isinstance(jitter, (int, float)):
        # cards written before they were recorded hold neither
        lines.append(f"  augmentation: intensity jitter {f'{jitter:g}' if jitter else 'off'}, "
                     f"flips and rotations {'on' if training['augment'] else 'off'}")
    if metrics.get("finetuned_psf"):
        lines.append(f"  fine-tuned with PSF: {metrics['finetuned_psf']} (give it as --psf)")
    scale = metrics.get("calibrated_noise_scale")
    if isinstance(scale, (int, float)) and scale != 1:
        lines.append(f"  noise scale {scale:g}, calibrated on the held-out region (every run "
                     "multiplies --noise-scale by it)")
    return lines


def weights_lines(info: dict) -> list[str]:
    """The line that says how weights with a model card are read, after the card's lines."""
    weights = info.get("weights") or {}
    if weights.get("kind") == "bundled":
        # deblur's --weights refuses a bundled name (it is the method); finetune's takes it
        return [f"  bundled weights: {weights['use']} for deblur and watch; "
                f"{weights.get('start_from', '--weights ' + info['file'])} for finetune and "
                "train (deblur's --weights takes files only)"]
    if weights.get("kind") == "bioimageio_zip":
        return [f"  BioImage Model Zoo package exported by napari-microdeblur; --weights reads "
                f"its attached {weights['attachment'].rsplit(':', 1)[-1]}"]
    lines = [f"  {weights['earlier_layout']}"] if weights.get("earlier_layout") else []
    if weights.get("renamed"):
        lines.append(f"  holds .safetensors weights under another name (read as such); rename "
                     f"it to {weights['renamed']}")
    return lines


def finetuned_psf(card) -> str | None:
    """The PSF a card's weights were fine-tuned with, as the job recorded it (a model such as
    'gaussian:1.6', a TIFF path as given, 'array'); None where it records none."""
    from .core.psf_aware import FINETUNED_PSF_KEY

    metrics = card.get("metrics") if isinstance(card, dict) else getattr(card, "metrics", None)
    return (metrics or {}).get(FINETUNED_PSF_KEY) or None


def finetuned_psf_words(card) -> str:
    """'these weights were fine-tuned with --psf gaussian:1.6' where the card's PSF is one
    --psf takes here (a model, a TIFF found from here), else what the card says of it; ''
    where it names none."""
    from .core.psf import is_psf_model

    psf = finetuned_psf(card)
    if psf is None:
        return ""
    if is_psf_model(psf) or Path(psf).is_file():
        return f"these weights were fine-tuned with --psf {shlex.quote(psf)}"
    if psf == "array":
        return ("these weights were fine-tuned with a PSF given as an array (the PSF field of "
                "a dock), which no --psf names: save that PSF as a TIFF and give --psf FILE")
    return f"these weights were fine-tuned with the PSF file {psf!r}, not found from here"


def psf_aware_without_psf(spec) -> str | None:
    """Why ``spec`` (deblur's checked MethodSpec) would fail on every file: --weights of a
    PSF-aware network and no --psf (a batch said so once per file, then 'N failed'), with the
    PSF the weights' card says they were fine-tuned with. None otherwise, and where the
    weights cannot be read here (loading them says why)."""
    from .core import registry

    if spec.weights is None or spec.psf is not None:
        return None
    card = None
    try:
        kind = weights_kind(spec.weights)
        if kind == "safetensors":
            from .core.checkpoint import read_card

            card = read_card(spec.weights)
        elif kind == "zoo":
            from .core.export import read_bioimageio_card

            card = read_bioimageio_card(spec.weights)
        # a state dict: --method names its architecture
        arch = card.arch if card is not None else spec.name.partition(".")[0]
        needs = getattr(registry.get_arch(arch).module_cls, "needs_psf", False)
    except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile):
        return None
    if not needs:
        return None
    # the card's text, its control characters escaped (deblur prints this line)
    hint = shown_text(finetuned_psf_words(card)) if card is not None else ""
    forms = "a model such as gaussian:1.6, a TIFF or estimate (forms: microdeblur deblur --help)"
    return (f"--weights {Path(spec.weights).name!r} is PSF-aware and needs a PSF: give --psf "
            "with the PSF of the images" + (f"; {hint}" if hint else f": {forms}"))


def psf_given(spec):
    """``spec``, refused (``cli.UserError``) where it has PSF-aware --weights and no --psf:
    said once, before any file is read, not once per file of a batch."""
    if refusal := psf_aware_without_psf(spec):
        from .cli import UserError

        raise UserError(refusal)
    return spec
