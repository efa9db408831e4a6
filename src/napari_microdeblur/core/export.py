"""BioImage Model Zoo packages (format 0.5): write one for a model, read ours back.

::

    export_bioimageio(model, card, "gran.zip", test_input=image)   # rdf.yaml, weights, tests
    model, card = read_bioimageio_zip("gran.zip")                  # via the attached checkpoint

The zip holds ``rdf.yaml`` (written by ``export_specs``); weights as ``pytorch_state_dict``
(``zoo_network.PaddedNetwork`` around the architecture, so any image size runs) and
``torchscript`` (the same, runs without this package; left out, with a warning, where
torch.jit fails on the model); ``test_input.npy``/``test_output.npy`` and, as grayscale TIFF
pages, ``sample_input.tif``/``sample_output.tif``; a cover PNG; and, as attachments, our
``.safetensors`` checkpoint and its card as JSON, which :func:`read_bioimageio_zip` reads.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_microdeblur import __version__
from napari_microdeblur.core import registry

from .atomic_write import exists_error
from .checkpoint import (
    ModelCard,
    card_for_model,
    load_safetensors,
    read_card,
    save_weights,
    write_atomically,
)
from .export_specs import (
    DESCRIPTION_LIMIT,
    build_rdf,
    check_zoo_licence,
    declared_halo,
    package_name,
    package_readme,
    smallest_input,
)
from .licences import UNASSERTED_LICENSES
from .notes import DeblurWarning
from .thread_warnings import caught
from .zoo_network import PaddedNetwork

__all__ = ["DESCRIPTION_LIMIT", "export_bioimageio", "read_bioimageio_card",
           "read_bioimageio_zip"]


def _read_attached(path: Path, read):
    """``read(file, where)`` of the ``.safetensors`` checkpoint attached to a package written
    by :func:`export_bioimageio`, copied to a temporary file; one ``ValueError`` else."""
    where = str(path)
    try:
        with zipfile.ZipFile(path) as zf:
            attached = [n for n in zf.namelist() if n.endswith(".safetensors")]
            if not attached:
                raise ValueError(
                    f"{where}: no .safetensors attachment; only BioImage Model Zoo packages "
                    "exported by napari-microdeblur (export_bioimageio) can be read"
                )
            entry = zf.getinfo(attached[0])
            _check_attachment_size(entry, where)
            with tempfile.TemporaryDirectory() as tmp:
                target = Path(tmp) / Path(attached[0]).name
                _copy_bounded(zf, entry, target, where)
                return read(target, f"{where}:{attached[0]}")
    # RuntimeError: an encrypted entry; NotImplementedError: a compression zipfile lacks
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
        raise ValueError(
            f"{where}: not a readable zip file (truncated or corrupt?): {exc}"
        ) from None


#: the largest .safetensors attachment read from a package (ours: 90 MB for the paper's 3D
#: psf_cyclegan), and the compression it may have where larger than ``_RATIO_FROM``: float
#: weights hardly compress, while a 14 MB zip held a 3 GiB entry (8.4 GB read into memory)
ATTACHMENT_LIMIT = 2 << 30
_RATIO_LIMIT, _RATIO_FROM = 20, 16 << 20


def _check_attachment_size(entry: zipfile.ZipInfo, where: str) -> None:
    """``ValueError`` for an attachment too large to be weights, or compressed as no weights
    compress: said from the zip's directory, before a byte of it is read."""
    size, packed = entry.file_size, max(entry.compress_size, 1)
    if size > ATTACHMENT_LIMIT or (size > _RATIO_FROM and size / packed > _RATIO_LIMIT):
        raise ValueError(
            f"{where}: its attachment {entry.filename!r} unpacks to {size / 2**20:,.0f} MiB from "
            f"{packed / 2**20:,.1f} MiB, more than this version reads (at most "
            f"{ATTACHMENT_LIMIT / 2**30:g} GiB, compressed at most {_RATIO_LIMIT}x): not read; "
            "a package damaged or not written by export_bioimageio, or weights this large: "
            "give their .safetensors file instead")


def _copy_bounded(zf: zipfile.ZipFile, entry: zipfile.ZipInfo, target: Path, where: str) -> None:
    """The attachment copied to ``target`` 1 MiB at a time, never more bytes than its directory
    entry declares (checked) even where the entry understates them."""
    left = entry.file_size
    with zf.open(entry) as src, open(target, "wb") as dst:
        while chunk := src.read(min(1 << 20, left + 1)):
            left -= len(chunk)
            if left < 0:
                raise ValueError(f"{where}: its attachment {entry.filename!r} holds more than "
                                 "its zip entry declares; the package is damaged: not read")
            dst.write(chunk)


def read_bioimageio_zip(
    path: Path, *, arch: str | None = None, map_location: Any = "cpu"
) -> tuple[torch.nn.Module, ModelCard]:
    """The model and card of a package written by :func:`export_bioimageio`."""
    return _read_attached(Path(path), lambda target, where: load_safetensors(
        target, arch=arch, config=None, map_location=map_location, source=where))


def read_bioimageio_card(path: str | os.PathLike) -> ModelCard:
    """The model card of a package written by :func:`export_bioimageio`, as
    :func:`read_bioimageio_zip` reads it, without building the model (``info``)."""

    def card(target: Path, where: str) -> ModelCard:
        try:
            found = read_card(target)
        except ValueError as exc:  # the temporary copy's name means nothing to the user
            raise ValueError(str(exc).replace(str(target), where)) from None
        found.source = where
        return found

    return _read_attached(Path(path), card)


# --------------------------------------------------------------------------- file contents


def _png_bytes(img: np.ndarray) -> bytes:
    """An 8-bit grayscale (H, W) or RGB (H, W, 3) array as PNG (Pillow)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _tiff_bytes(a: np.ndarray) -> bytes:
    """``a`` (C, [Z,] Y, X) as float32 grayscale pages, the rdf's channel axis first: without
    photometric, tifffile tagged 3 or 4 channels (or planes) RGB, and warns it will stop."""
    import tifffile

    buf = io.BytesIO()
    tifffile.imwrite(buf, np.ascontiguousarray(a, dtype=np.float32), photometric="minisblack")
    return buf.getvalue()


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _to_uint8(a: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(a, [0.5, 99.5])
    return (np.clip((a - lo) / (hi - lo + 1e-12), 0, 1) * 255).astype(np.uint8)


def _cover(x: np.ndarray, y: np.ndarray) -> bytes:
    """Input | output side by side (first channel, middle slice for volumes)."""

    def plane(a: np.ndarray) -> np.ndarray:
        a = a[0, 0]
        while a.ndim > 2:
            a = a[a.shape[0] // 2]
        return a

    return _png_bytes(np.concatenate([_to_uint8(plane(x)), _to_uint8(plane(y))], axis=1))


def _normalize_like_bioimageio(
    x: np.ndarray, norm: Mapping[str, Any], axes: tuple[int, ...]
) -> np.ndarray:
    if norm.get("kind") == "percentile":
        # bioimageio's scale_range with eps 1e-6 (its default), over ``axes``
        lo = np.percentile(x, norm.get("low", 0.1), axis=axes, keepdims=True)
        hi = np.percentile(x, norm.get("high", 99.9), axis=axes, keepdims=True)
        return ((x - lo) / (hi - lo + 1e-6)).astype(np.float32)
    return x.astype(np.float32)


def _test_tensor(model: torch.nn.Module, card: ModelCard, test_input) -> np.ndarray:
    """``test_input`` as (1, C, [Z,] Y, X) float32, checked against the model."""
    sd = model.spatial_dims
    x = np.asarray(test_input, dtype=np.float32)
    c = card.in_channels
    if x.ndim == sd + 1 and x.shape[-1] == c and x.shape[0] != c:
        # channels last, as tifffile and napari give RGB (Y, X, 3): the package stores C first
        x = np.moveaxis(x, -1, 0)
    if x.ndim == sd:
        x = x[None, None]
    elif x.ndim == sd + 1:
        x = x[None]
    if x.ndim != sd + 2 or x.shape[1] != card.in_channels:
        raise ValueError(
            f"test_input must be ([C,] {'Z, ' if sd == 3 else ''}Y, X) "
            f"with C={card.in_channels} (or channels last); got shape {np.shape(test_input)}"
        )
    _check_test_values(x)
    div = model.size_divisor
    if any(s % div for s in x.shape[2:]):
        # the package runs on any size; its test tensor must fit the declared size rule
        fit = tuple(s // div * div for s in x.shape[2:])
        raise ValueError(
            f"export_bioimageio: test_input spatial sizes {x.shape[2:]} must be multiples of "
            f"{div}; crop it to {fit}, e.g. image[..., :{fit[-2]}, :{fit[-1]}] (the package "
            "itself runs on images of any size)"
        )
    return x


def _check_test_values(x: np.ndarray) -> None:
    """Refuse a test input the package's test cannot rest on: with NaN or infinite pixels the
    test output was all NaN and ``bioimageio test`` still passed; a constant one gave an
    output the Zoo's validator refuses ("Output values are too small")."""
    finite = np.isfinite(x)
    if not finite.all():
        raise ValueError(
            f"export_bioimageio: test_input holds NaN or infinite pixels ({1 - finite.mean():.1%}"
            " of them), which make the package's whole test output NaN; give a finite image: a "
            "crop without them, or np.nan_to_num(image)")
    if x.min() == x.max():
        raise ValueError(
            f"export_bioimageio: test_input is constant (every pixel {float(x.flat[0]):g}), so "
            "the test output is too and the BioImage Model Zoo refuses it; give a crop of a "
            "real image of the kind the network deblurs")


def _check_test_output(y: np.ndarray) -> None:
    """Refuse a test output the Zoo's validator refuses, or one that tests nothing."""
    if not np.isfinite(y).all():
        raise ValueError(
            "export_bioimageio: the network gives NaN or infinite values on test_input; check "
            "the weights (they may be damaged or diverged), or give another test_input")
    if np.abs(y).max() < 1e-4:  # bioimageio.spec: "Output values are too small"
        raise ValueError(
            "export_bioimageio: the network's output on test_input is within 1e-4 of 0 "
            "everywhere, which the BioImage Model Zoo refuses as too small to test with; give "
            "a test_input with more structure (a crop of a real image), or check the weights "
            "(untrained or zeroed ones give this)")


#: how a refusal says to give the licence the package is published under
PASS_LICENSE = ("pass license= the licence you may publish them under, e.g. "
                "export_bioimageio(..., license='CC-BY-4.0')")


def _check_exportable(model: torch.nn.Module, card: ModelCard) -> None:
    """Refuse, in one line, what would make a package the Model Zoo rejects or misruns."""
    if getattr(model, "needs_psf", False):
        # the package's one input is the image: a consumer has no way to give the PSF
        raise ValueError(
            f"export_bioimageio: {card.arch} needs the PSF as a second input, which a "
            "BioImage Model Zoo package of napari-microdeblur does not describe; share the "
            ".safetensors file instead (save_weights), or export a blind network"
        )
    if card.license.upper() in UNASSERTED_LICENSES:
        # 'unknown' (a card's default) was written as CC-BY-4.0: a licence nobody chose
        raise ValueError(
            f"export_bioimageio: the weights' licence is {card.license!r} (not chosen, or their "
            "training data states none) and the BioImage Model Zoo needs an SPDX licence id; "
            f"{PASS_LICENSE} (or a card with it)")
    parts = [p.strip("() ") for p in card.license.replace(" OR ", " AND ").split(" AND ")]
    stated = [p for p in parts if p.upper() not in UNASSERTED_LICENSES]
    if stated and len(stated) < len(parts):
        # a fine-tune's card: its start's licence AND NOASSERTION for the user's data, or a
        # start that states none AND the user's data's
        raise ValueError(
            f"export_bioimageio: the weights' licence is {card.license!r}: part of what they "
            "were trained on (the starting weights' data or the data they were fine-tuned or "
            "trained further on) states no licence, and the BioImage Model Zoo "
            "needs one SPDX licence id; pass license= the licence you may publish them under "
            f"given the terms of {' AND '.join(stated)} and of the data that states none (no "
            "more permissive than those), e.g. export_bioimageio(..., license='"
            f"{stated[-1]}')")
    if any(f" {word} " in f" {card.license.upper()} " for word in ("AND", "OR", "WITH")):
        # a card names every training set's licence; the Zoo's rdf takes one SPDX id
        raise ValueError(
            f"export_bioimageio: the weights' licence is {card.license!r}, an SPDX expression "
            "(a card names its training sets' licences joined by AND), and the BioImage Model "
            f"Zoo takes one SPDX licence id; {PASS_LICENSE} (or a card with it)")
    # written, the package failed bioimageio.core's test with the list of every SPDX id
    check_zoo_licence(card.license)


def _runs_alike(model: torch.nn.Module, traced, probe: torch.Tensor) -> bool:
    """Whether the model and its TorchScript trace (None: the model alone) both run on
    ``probe`` and agree: a trace keeps sizes it saw (c2f_unet's 32-px mirror, which the model
    reflects again on small inputs and the trace cannot)."""
    try:
        with torch.no_grad():
            want = model(probe)
            got = want if traced is None else traced(probe)
    except (RuntimeError, ValueError):  # torch.jit.Error is a RuntimeError
        return False
    return got.shape == want.shape and bool(torch.allclose(got, want, rtol=1e-3, atol=1e-4))


def _min_size(model: torch.nn.Module, traced, xn: np.ndarray) -> int:
    """The smallest multiple of ``size_divisor`` (per side, up to the test input's) that both
    weights of the package run on (the model's alone where ``traced`` is None), probed with
    crops of the normalised test input: instance normalisation needs more than one pixel at
    the deepest level, and the trace keeps sizes."""
    div = model.size_divisor
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        for side in range(div, min(xn.shape[2:]), div):
            crop = xn[(..., *[slice(0, side)] * (xn.ndim - 2))]
            probe = torch.from_numpy(np.ascontiguousarray(crop)).to(device)
            if _runs_alike(model, traced, probe):
                return side
        return min(xn.shape[2:])  # the test input runs (it made the test output)
    finally:
        model.train(was_training)


def _run(model: torch.nn.Module, xn: np.ndarray) -> np.ndarray:
    """The output of ``model`` on the normalised test input, as numpy."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            example = torch.from_numpy(xn).to(next(model.parameters()).device)
            return model(example).cpu().numpy().astype(np.float32)
    finally:
        model.train(was_training)


def _trace(model: torch.nn.Module, xn: np.ndarray):
    """The TorchScript trace of ``model`` on the normalised test input."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), caught():  # the tracer's warnings dropped, this thread only
            example = torch.from_numpy(xn).to(next(model.parameters()).device)
            return torch.jit.trace(model, example, check_trace=False)
    finally:
        model.train(was_training)


def _scripted(model: torch.nn.Module, traced, runs_from: int) -> bytes:
    """``weights_torchscript.pt``: PaddedNetwork around the trace, scripted."""
    buf = io.BytesIO()
    with caught() as held:  # for this thread only (thread_warnings)
        wrapped = PaddedNetwork(net=traced, size_divisor=model.size_divisor, min_size=runs_from)
        torch.jit.save(torch.jit.script(wrapped), buf)
    for w in held:  # torch.jit is deprecated, still read everywhere: that one is dropped
        if not issubclass(w.category, DeprecationWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return buf.getvalue()


def _torchscript_and_min_size(model: torch.nn.Module, xn: np.ndarray):
    """(``weights_torchscript.pt`` or None, the smallest input side). torch.jit is deprecated
    (torch 2.13: "may break" on Python 3.14+): where it fails or is missing, the package holds
    the pytorch_state_dict weights alone (valid so), with one warning, and its smallest side
    is the model's own."""
    step = "torch.jit.trace"
    try:
        traced = _trace(model, xn)
        # the trace is made; running it on crops of the test input may fail on its own
        step = "running the trace to find its smallest input side"
        runs_from = _min_size(model, traced, xn)
        step = "torch.jit.script"
        return _scripted(model, traced, runs_from), runs_from
    except Exception as exc:  # any failure of torch.jit leaves its weights out
        why = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
    warnings.warn(
        f"export_bioimageio: TorchScript weights were left out ({step} failed: {why}); the "
        "package holds pytorch_state_dict weights only, which need napari-microdeblur "
        "installed (environment.yaml); for both, export with a torch whose torch.jit runs "
        "this network", DeblurWarning, stacklevel=3)
    return None, _min_size(model, None, xn)


def _weights_files(model: torch.nn.Module, torchscript: bytes | None,
                   card: ModelCard) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    buf = io.BytesIO()
    # keys as PaddedNetwork holds the network (the rdf's architecture)
    torch.save({f"net.{k}": v.detach().cpu() for k, v in model.state_dict().items()}, buf)
    files["weights_state_dict.pt"] = buf.getvalue()
    if torchscript is not None:
        files["weights_torchscript.pt"] = torchscript
    with tempfile.TemporaryDirectory() as tmp:
        st_path = Path(tmp) / f"{card.arch}.safetensors"
        save_weights(model, st_path, card)
        files[f"{card.arch}.safetensors"] = st_path.read_bytes()
    files["microdeblur_card.json"] = card.model_dump_json(
        indent=2, exclude={"sha256", "source"}
    ).encode()
    return files


def _package_card(model: torch.nn.Module, card, license: str | None) -> ModelCard:
    """``card`` completed from the model, with ``license`` (the SPDX id the package is
    published under) in place of its own where given."""
    full_card = card_for_model(model, card)
    if isinstance(card, ModelCard):  # what catalog knows of bundled weights by their name
        full_card.metrics = {**_lineage(card), **full_card.metrics}
    if license is None:
        return full_card
    if not isinstance(license, str):
        raise ValueError(f"export_bioimageio: license={license!r}; give an SPDX licence id "
                         "such as 'CC-BY-4.0'")
    return full_card.model_copy(update={"license": license.strip()})


def _lineage(card: ModelCard) -> dict:
    """The image type and training sets catalog finds for ``card`` (bundled weights' cards
    record neither: their package's card lost them with the name, card_for_model drops it,
    and ``info`` of the package said 'grayscale images' of an EM network)."""
    from .catalog import IMAGE_TYPE_KEY, TRAINING_SETS_KEY, card_modality, card_training_sets

    modality, sets = card_modality(card), card_training_sets(card)
    return {**({IMAGE_TYPE_KEY: modality} if modality else {}),
            **({TRAINING_SETS_KEY: list(sets)} if sets else {})}


def _checked_target(path_zip: str | os.PathLike, overwrite: bool) -> Path:
    path_zip = Path(path_zip)
    if path_zip.suffix != ".zip":
        raise ValueError(f"export_bioimageio: path must end in .zip, got {str(path_zip)!r}")
    if not overwrite and os.path.lexists(path_zip):  # before the tracing, not after it
        raise exists_error(path_zip)  # or why overwrite would not replace it either
    return path_zip


def _environment(torch_version: str) -> bytes:
    return (
        "name: napari-microdeblur\nchannels: [conda-forge]\ndependencies:\n"
        f"  - python>=3.10\n  - pip\n  - pip:\n    - napari-microdeblur>={__version__}\n"
        f"    - torch>={torch_version}\n"
    ).encode()


def export_bioimageio(
    model: torch.nn.Module,
    card: ModelCard | Mapping[str, Any] | None,
    path_zip: str | os.PathLike,
    *,
    test_input: np.ndarray,
    name: str | None = None,
    authors: list[dict[str, str]] | None = None,
    cite: list[dict[str, str]] | None = None,
    halo: int | str | None = None,
    overwrite: bool = True,
    license: str | None = None,
) -> Path:
    """Write a BioImage Model Zoo package (format 0.5) for ``model`` (see the module docstring).

    ``test_input`` is a raw image with axes ``[C,] [Z,] Y, X`` (or already ``(1, C, ...)``),
    or channels last (``Y, X, C`` as tifffile and napari give RGB: moved to ``C, Y, X``, the
    package's order); its spatial sizes must be multiples of the model's ``size_divisor``
    (the package runs on any size). ``halo``: the pixels per side the package declares a
    tile's output depends on; None: none, so that a whole-image predict normalises as the
    plugin does; "plugin": the one napari-microdeblur tiles with (the card's measured
    ``tiling['halo']``, else the receptive field), for tiled prediction without seams; the
    smallest tile is over twice it.
    ``cite``: None cites the architecture's paper.
    ``overwrite``: a file at ``path_zip`` is replaced; False keeps one there before (refused
    before the work) or written by another export meanwhile (``OutputExistsError``).
    ``license``: the SPDX licence id the package is published under, in place of the card's
    (the Zoo takes one id: a card's 'NOASSERTION', 'unknown' or 'A AND B', as fine-tuned
    weights carry, is refused until it is given).
    A ``test_input`` with NaN or infinite pixels, or a constant one, is refused: the package's
    test output would be NaN (and still pass ``bioimageio test``) or refused as too small.
    """
    full_card = _package_card(model, card, license)
    path_zip = _checked_target(path_zip, overwrite)
    _check_exportable(model, full_card)
    x = _test_tensor(model, full_card, test_input)
    div, sd = model.size_divisor, model.spatial_dims
    margin = declared_halo(model, full_card, halo, div, min(x.shape[2:]))
    xn = _normalize_like_bioimageio(x, full_card.normalization, tuple(range(1, x.ndim)))
    y = _run(model, xn)
    _check_test_output(y)
    torchscript, runs_from = _torchscript_and_min_size(model, xn)
    torch_version = torch.__version__.split("+")[0]
    rdf_name = name or package_name(card, full_card.arch)  # names the weights it holds
    module_cls = registry.get_arch(full_card.arch).module_cls
    files: dict[str, bytes] = {
        "test_input.npy": _npy_bytes(x),
        "test_output.npy": _npy_bytes(y),
        "cover.png": _cover(x, y),
        "sample_input.tif": _tiff_bytes(x[0]),
        "sample_output.tif": _tiff_bytes(y[0]),
        **_weights_files(model, torchscript, full_card),
        "environment.yaml": _environment(torch_version),
    }
    least = smallest_input(runs_from, margin, div)
    files["README.md"] = package_readme(full_card, rdf_name, module_cls, sd=sd, step=div,
                                        least=least, halo=margin, package=path_zip.name)
    rdf = build_rdf(
        full_card, files, rdf_name=rdf_name, sd=sd,
        step=div, least=least, runs_from=runs_from, halo=margin, authors=authors, cite=cite,
        torch_version=torch_version,
    )
    try:
        import yaml

        rdf_text = yaml.safe_dump(rdf, sort_keys=False)
    except ImportError:  # JSON is valid YAML
        rdf_text = json.dumps(rdf, indent=2)
    files = {"rdf.yaml": rdf_text.encode(), **files}

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for fname, content in files.items():
                zf.writestr(fname, content)

    write_atomically(path_zip, write, overwrite=overwrite)
    return path_zip


# ------------------------------------------------------------ weights digests (deblur reruns)


def loaded_weights_sha256(path: str | os.PathLike) -> str:
    """The sha256 that loading the weights file ``path`` records (``card.sha256``): a package
    written by :func:`export_bioimageio` that of its attached ``.safetensors`` checkpoint (as
    :func:`read_bioimageio_zip` loads it: the zip's own bytes differ), any other file its own.
    OSError or ValueError where it cannot be read."""
    from .checkpoint import sha256_file
    from .state_dict_files import looks_like_safetensors

    path = Path(path)
    # as load_model tells them: safetensors bytes under a .zip name are read as such
    if path.suffix.lower() == ".zip" and not looks_like_safetensors(path):
        return _read_attached(path, lambda target, where: sha256_file(target))
    return sha256_file(path)


def weights_file_of(source: str) -> str:
    """The weights file a card's ``source`` names: a package's attachment, as
    :func:`read_bioimageio_zip` names it ('g.zip:gran.safetensors'), is the package 'g.zip'
    that ``--weights`` takes; any other source is unchanged."""
    package, colon, attached = source.rpartition(":")
    if colon and package.lower().endswith(".zip") and attached.lower().endswith(".safetensors"):
        return package
    return source
