"""The ``rdf.yaml`` of a BioImage Model Zoo package (``export.export_bioimageio``): tensor
axes with the size rule and halo, weights, citations, and the description.

Size rule: the network runs on multiples of its ``size_divisor`` from ``min``; its weights are
wrapped in :class:`~.zoo_network.PaddedNetwork`, so bioimageio.core's whole-image ``predict``
(which passes the image as it is) runs on any size. Halo: the pixels per side a tile's output
depends on; none by default. bioimageio.core crops it from each block of a tiled predict, and
pads it around a whole image before its percentile normalisation: with the plugin's halo
declared, a whole 130 x 133 plane came out 6.8 % of its range off the plugin's result (0.0017
counts without), while tiled blocks lost their seams (0.066 -> 0.0008 of a 1.29 range).
``halo="plugin"`` declares the plugin's (``method.network_method``: the card's measured
``tiling['halo']``, else the receptive field), for tiled prediction.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import string
import typing
import warnings
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from .notes import DeblurWarning
from .zoo_network import PaddedNetwork

__all__ = [
    "ARCH_PAPERS", "DESCRIPTION_LIMIT", "build_rdf", "check_zoo_licence", "cite_entries",
    "declared_halo", "package_description", "package_name", "package_readme", "pixel_size_um",
    "smallest_input", "short_text", "usage_text", "zoo_licence_ids",
]

DESCRIPTION_LIMIT = 512  # bioimageio.spec warns above this; the whole text is in README.md

#: the paper each architecture implements (the arch module's docstring names it)
ARCH_PAPERS: dict[str, dict[str, str]] = {
    "c2f_unet": {
        "text": "J. Wang, B. Han, Defocus deblur microscopy via feature interactive "
                "coarse-to-fine network, arXiv:2211.00416 (2022)",
        "doi": "10.48550/arXiv.2211.00416",
    },
    "gran": {
        "text": "Y. Zhang et al., High-throughput microscopy image deblurring with graph "
                "reasoning attention network, ISBI 2023 (arXiv:2212.09977)",
        "doi": "10.48550/arXiv.2212.09977",
    },
    "psf_cyclegan": {
        "text": "S. Lim, S.-E. Lee, S. Chang, J. C. Ye, Blind deconvolution microscopy using "
                "cycle consistent CNN with explicit PSF layer, MLMIR at MICCAI 2019 "
                "(arXiv:1904.02910)",
        "doi": "10.48550/arXiv.1904.02910",
    },
    "sgpn": {
        "text": "A. Cheng, K. Kang, Z. Zhu, R. Zhang, L. Wang, Improving the neural "
                "segmentation of blurry serial SEM images by blind deblurring, Computational "
                "Intelligence and Neuroscience 2023, 8936903",
        "doi": "10.1155/2023/8936903",
    },
}

#: the characters bioimageio.spec 0.5 allows in a package's name, and the length it advises
NAME_CHARACTERS = frozenset(string.ascii_letters + string.digits + "_+- ()")
NAME_ADVISED = 64

STACK_NOTE = (
    "A z-stack given plane by plane (batch) is normalised per plane here, while "
    "napari-microdeblur normalises the whole stack: a stack plane's output differs; "
    "use napari-microdeblur for stacks."
)


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def project_urls() -> list[str]:
    """The project's URLs from its installed metadata (Home-page, Project-URL), if any."""
    try:
        meta = metadata.metadata("napari-microdeblur")
    except metadata.PackageNotFoundError:
        return []
    urls = [meta.get("Home-page") or ""]
    urls += [u.split(",", 1)[-1].strip() for u in meta.get_all("Project-URL") or []]
    return [u for u in urls if u.startswith("https://")]


def cite_entries(arch: str) -> list[dict[str, str]]:
    """The architecture's paper and the project's URL (napari/napari was cited: not ours)."""
    cites = [dict(ARCH_PAPERS[arch])] if arch in ARCH_PAPERS else []
    cites += [{"text": "napari-microdeblur", "url": url} for url in project_urls()[:1]]
    if not cites:
        raise ValueError(
            f"export_bioimageio: no paper is known for the architecture {arch!r}; pass "
            "cite=[{'text': 'Author, title, year', 'doi': '10....'}] (or 'url')"
        )
    return cites


def declared_halo(model: Any, card: Any, halo: int | str | None, step: int, side: int) -> int:
    """The output halo: ``halo`` pixels (None: 0), or with ``halo="plugin"`` the plugin's (the
    card's measured one, else the receptive field), rounded up so that twice it is a multiple
    of ``step`` (bioimageio.core pads it around a whole image). The test input (smallest side
    ``side``) must be a valid input, over twice the halo: the plugin's halo is cut down to fit
    it, with a warning."""
    unit = step // math.gcd(2, step)
    if halo != "plugin":
        halo = 0 if halo is None else halo
        if isinstance(halo, bool) or not isinstance(halo, int) or halo < 0:
            raise ValueError(f"export_bioimageio: halo={halo!r}; give pixels per side (an int "
                             '>= 0), or "plugin" for the one napari-microdeblur tiles with')
        wanted = -(-halo // unit) * unit
        if smallest_input(1, wanted, step) > side:
            raise ValueError(
                f"export_bioimageio: halo={halo} needs a test_input of at least "
                f"{smallest_input(1, wanted, step)} px per side (the Zoo's smallest tile is "
                f"over twice the halo), got {side} px; give a larger test_input or a smaller halo"
            )
        return wanted
    plugin = int((card.tiling or {}).get("halo", getattr(model, "receptive_field", 0)))
    wanted = -(-plugin // unit) * unit
    fits = (side - 1) // 2 // unit * unit
    if wanted <= fits:
        return wanted
    warnings.warn(
        f"export_bioimageio: the package declares a halo of {fits} px per side, not the "
        f"{plugin} px napari-microdeblur tiles these weights with, as the test_input "
        f"({side} px) must be a valid Zoo tile, over twice the halo: tiles bioimageio.core "
        f"makes may show seams; give a test_input of at least "
        f"{smallest_input(1, wanted, step)} px per side, or halo= a measured one "
        "(scripts/measure_halo.py)",
        DeblurWarning, stacklevel=3,
    )
    return fits


def smallest_input(least: int, halo: int, step: int) -> int:
    """The declared ``min``: runs (``least``) and keeps an output after cropping the halo on
    both sides (bioimageio.spec needs ``min - 2 * halo >= 1``), on the ``step`` grid."""
    return -(-max(least, 2 * halo + 1) // step) * step


def pixel_size_um(card: Any) -> float | None:
    """The Y/X pixel size the weights were trained at (fine-tuned cards record it)."""
    value = (card.metrics or {}).get("pixel_size_um")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1e6:
        return float(value)
    return None


def short_text(text: str, limit: int, more: str = "") -> str:
    """``text`` cut to ``limit`` characters at a sentence (else a word) boundary + ``more``."""
    if len(text) <= limit:
        return text
    head = text[: max(0, limit - len(more))]
    end = head.rfind(". ")
    head = head[: end + 1] if end > 0 else head[: head.rfind(" ")].rstrip(",;:") + "..."
    return head + more


def package_description(card: Any, sd: int) -> str:
    """The card's description, its training data and pixel size, and (2D percentile models)
    the per-plane normalisation of a z-stack, within the Zoo's 512 characters."""
    notes = []
    size = pixel_size_um(card)
    if size:
        notes.append(f"Trained at {size:.4g} um per pixel (Y/X): resample other images to it.")
    if sd == 2 and card.normalization.get("kind") == "percentile":
        notes.append(STACK_NOTE)
    tail = " ".join(notes)
    head = card.description or f"napari-microdeblur {card.arch} deblurring network."
    more = " (more in README.md)"
    budget = DESCRIPTION_LIMIT - len(tail) - 2
    if card.training_data:
        trained = "Training data: " + card.training_data
        first = short_text(head, max(budget // 2, budget - len(trained) - 1))
        body = f"{first} {short_text(trained, budget - len(first) - 1, more)}"
    else:
        body = short_text(head, budget, more)
    return f"{body} {tail}".strip()


# --------------------------------------------------------------------------- rdf.yaml


def _tensor_specs(card, sd: int, step: int, files: Mapping[str, bytes], least: int,
                  halo: int):
    """The ``inputs`` and ``outputs`` entries of the rdf."""
    spatial_ids = ["z", "y", "x"][-sd:]
    size = pixel_size_um(card)

    def channels(n: int) -> dict[str, Any]:
        return {"type": "channel", "channel_names": [f"c{i}" for i in range(n)]}

    in_axes: list[dict[str, Any]] = [{"type": "batch"}, channels(card.in_channels)]
    out_axes: list[dict[str, Any]] = [{"type": "batch"}, channels(card.out_channels)]
    for ax in spatial_ids:
        # the pixel size the weights were trained at, on the axes it was stated for
        unit = {"unit": "micrometer", "scale": size} if size and ax != "z" else {}
        in_axes.append({"type": "space", "id": ax, "size": {"min": least, "step": step},
                        **unit})
        out_axes.append({"type": "space", "id": ax,
                         "size": {"tensor_id": "input0", "axis_id": ax}, **unit,
                         **({"halo": halo} if halo else {})})
    preprocessing: list[dict[str, Any]] = []
    if card.normalization.get("kind") == "percentile":
        kwargs = {
            # channels jointly, as microdeblur deblur normalises (one offset and scale per
            # image): per channel, an RGB package's output was ~17 % of the range off
            "axes": ["channel", *spatial_ids],
            "min_percentile": float(card.normalization.get("low", 0.1)),
            "max_percentile": float(card.normalization.get("high", 99.9)),
        }
        preprocessing.append({"id": "scale_range", "kwargs": kwargs})

    def tensor(tid: str, axes: list, test: str, sample: str) -> dict[str, Any]:
        return {
            "id": tid,
            "axes": axes,
            "test_tensor": {"source": test, "sha256": _sha(files[test])},
            "sample_tensor": {"source": sample, "sha256": _sha(files[sample])},
            "data": {"type": "float32"},
        }

    inputs = [{**tensor("input0", in_axes, "test_input.npy", "sample_input.tif"),
               "preprocessing": preprocessing}]
    outputs = [tensor("output0", out_axes, "test_output.npy", "sample_output.tif")]
    return inputs, outputs


def _weights_spec(card, files: Mapping[str, bytes], torch_version: str, runs_from: int):
    weights = {
        "pytorch_state_dict": {
            "source": "weights_state_dict.pt",
            "sha256": _sha(files["weights_state_dict.pt"]),
            "architecture": {
                "callable": PaddedNetwork.__name__,
                "import_from": PaddedNetwork.__module__,
                "kwargs": {"arch": card.arch, "config": card.config, "min_size": runs_from},
            },
            "pytorch_version": torch_version,
            "dependencies": {
                "source": "environment.yaml",
                "sha256": _sha(files["environment.yaml"]),
            },
        },
    }
    if "weights_torchscript.pt" in files:  # optional: left out where torch.jit failed
        weights["torchscript"] = {
            "source": "weights_torchscript.pt",
            "sha256": _sha(files["weights_torchscript.pt"]),
            "pytorch_version": torch_version,
            "parent": "pytorch_state_dict",
        }
    return weights


def _weights_tag(card) -> str | None:
    """The bundled tag ('em_v1' of gran.em_v1) or the stem of the weights file (a Zoo .zip's
    own, not its attachment's) ``card`` was read from; None for a card of no file."""
    from pathlib import PurePath

    from .bundled import BUNDLED_WEIGHTS

    get = card.get if isinstance(card, Mapping) else lambda key: getattr(card, key, None)
    source, sha256 = get("source"), get("sha256")
    name = source if source in BUNDLED_WEIGHTS else next(
        (n for n, entry in BUNDLED_WEIGHTS.items() if sha256 and entry.sha256 == sha256), None)
    if name is not None:  # load_model('gran.em_v1'), or its file by its sha256
        return name.partition(".")[2] or name
    if not source:
        return None
    zipped, found, _ = str(source).rpartition(".zip:")  # read_bioimageio_zip's 'x.zip:a'
    return PurePath(zipped + ".zip" if found else str(source)).stem or None


def package_name(card, arch: str) -> str:
    """'napari-microdeblur gran (em_v1)': the architecture and the weights' bundled tag or
    file stem (every package was named 'napari-microdeblur gran'), in the characters and
    length the Zoo allows (its name takes no '.')."""
    base = f"napari-microdeblur {arch}"
    tag = _weights_tag(card)
    if not tag:
        return base
    tag = re.sub("_+", "_", "".join(c if c in NAME_CHARACTERS - set("()") else "_"
                                    for c in tag)).strip("_ ")
    room = NAME_ADVISED - len(base) - 3
    return f"{base} ({tag[:room].rstrip('_ ')})" if tag and room > 0 else base


def build_rdf(card, files, *, rdf_name, sd, step, least, runs_from, halo, authors, cite,
              torch_version) -> dict:
    from .catalog import card_modality

    arch = card.arch
    inputs, outputs = _tensor_specs(card, sd, step, files, least, halo)
    # bundled cards record no image type: catalog knows it by their name (the tag was lost)
    image_type = card_modality(card)
    tags = ["deblurring", "microscopy", "napari-microdeblur", arch, f"{sd}d"]
    rdf = {
        "type": "model",
        "format_version": "0.5.4",
        "name": rdf_name,
        "description": package_description(card, sd),
        "authors": authors or [{"name": "napari-microdeblur developers"}],
        "cite": cite or cite_entries(arch),
        "license": card.license,
        "documentation": "README.md",
        "covers": ["cover.png"],
        "tags": tags + ([image_type] if isinstance(image_type, str) and image_type else []),
        "inputs": inputs,
        "outputs": outputs,
        "weights": _weights_spec(card, files, torch_version, runs_from),
        "attachments": [
            {"source": f"{arch}.safetensors", "sha256": _sha(files[f"{arch}.safetensors"])},
            {"source": "microdeblur_card.json", "sha256": _sha(files["microdeblur_card.json"])},
        ],
        "config": {"napari_microdeblur": {
            "arch": arch, "card": "microdeblur_card.json", "halo": halo,
            # an inline dataset description drew six 'FAIR' warnings from bioimageio.spec
            **({"training_data": card.training_data} if card.training_data else {}),
            **({"pixel_size_um": pixel_size_um(card)} if pixel_size_um(card) else {}),
        }},
    }
    return rdf


def usage_text(card, *, sd: int, step: int, least: int, package: str) -> str:
    """The README's section on running the package on any size with bioimageio.core: its
    ``predict`` refuses a plain numpy array off the declared grid ("Array shape ... does not
    map to axes", bioimageio.core 0.11) and takes a ``Tensor`` with named axes of any size."""
    spatial = ("z", "y", "x")[-sd:]
    dims = ", ".join(f'"{d}"' for d in ("batch", "channel", *spatial))
    axes = "".join(spatial).upper()
    if card.in_channels == 1:
        image, index, given = f"image ({axes})", "[0, 0]", "image[None, None]"
    else:
        image, index, given = f"image (C, {axes}, C = {card.in_channels})", "[0]", "image[None]"
    return (
        "## Running it on any image size\n\n"
        "The network runs on any size, but bioimageio.core's `predict` checks a plain numpy "
        f"array against the declared size rule ({least} + n x {step} px per side) and refuses "
        "any other shape (\"Array shape ... does not map to axes\"). Give the image as a "
        "`Tensor` with its axes named: then any size runs (the network mirrors it up to the "
        f"grid and crops the output back). With `{image}` a numpy array:\n\n"
        "```python\nimport numpy as np\n"
        "from bioimageio.core import Tensor, load_description, predict\n\n"
        f'model = load_description("{package}")\n'
        f"x = Tensor({given}.astype(np.float32), dims=({dims}))\n"
        'out = predict(model=model, inputs={"input0": x})\n'
        f'result = out.members["output0"].data.values{index}  # normalised units\n```\n\n'
    )


def package_readme(card, rdf_name: str, module_cls: type, *, sd: int, step: int, least: int,
                   halo: int, package: str = "package.zip") -> bytes:
    """README.md of the package: the card in full, how the package differs from the
    plugin (sizes, halo, normalisation of stacks) and how to run it on any size."""
    size = pixel_size_um(card)
    stack = f"- z-stacks: {STACK_NOTE}\n" if sd == 2 else ""
    return (
        f"# {rdf_name}\n\n{card.description or module_cls.__doc__.splitlines()[0]}\n\n"
        f"Architecture `{card.arch}` of napari-microdeblur.\n\n"
        f"- training data: {card.training_data or 'not stated'}\n"
        f"- pixel size at training: {f'{size:.4g} um (Y/X)' if size else 'not stated'}\n"
        f"- degradation: {card.degradation or 'not stated'}\n"
        f"- metrics: {json.dumps(card.metrics)}\n"
        f"- normalisation: {json.dumps(card.normalization)}\n"
        f"- licence: {card.license}\n"
        f"- input size: any, given as a `Tensor` with named axes (see below: a plain numpy "
        f"array must be {least} + n x {step} px per side); the network runs on multiples of "
        f"{step} px (others are mirrored up to one and cropped back); tiles of {least} + n x "
        f"{step} px\n"
        f"- halo: {halo} px per side (the pixels a tile's output depends on, as "
        "napari-microdeblur tiles): cropped from each tile, mirrored around a whole image "
        "(bioimageio.core then takes the percentiles over the image with that border; tiled, "
        "`blocksize_parameter`, over the image alone, as napari-microdeblur does)\n"
        f"{stack}"
        "- output units: normalised like the input (its low/high percentiles map to 0 and 1); "
        "napari-microdeblur maps its output back to the image's intensities\n"
        "- precision: the test output is float32; `microdeblur deblur --precision float32` "
        "reproduces it (the default 'auto' runs bfloat16 on CUDA and bf16-capable CPUs, "
        "typically within 0.5 % of the intensity range)\n\n"
        f"{usage_text(card, sd=sd, step=step, least=least, package=package)}"
        "## Validation\n\n"
        f"Validation metrics reported by the trainer: {json.dumps(card.metrics)}.\n\n"
        "Read back with `napari_microdeblur.core.checkpoint.load_model(path_to_zip)`.\n"
    ).encode()


# --------------------------------------------------------------------------- licence


def zoo_licence_ids() -> tuple[str, frozenset[str]] | None:
    """(where the list is from, the SPDX licence ids an rdf may name): bioimageio.spec's, the
    Zoo's own validator (deprecated ids too: it accepts them with a warning), where it is
    installed (the ``bioimageio`` extra); else None (``packaging`` checks, see
    :func:`check_zoo_licence`)."""
    from .thread_warnings import caught

    try:
        with caught():  # its pydantic deprecation warnings are none of the user's business
            from bioimageio.spec.model.v0_5 import DeprecatedLicenseId, LicenseId
    except ImportError:
        return None
    ids = set()
    for kind in (LicenseId, DeprecatedLicenseId):  # Literal[...] inside a RootModel
        ids.update(typing.get_args(kind.root_model.model_fields["root"].annotation))
    return "bioimageio.spec", frozenset(ids)


def _packaging_id(licence: str) -> str | None:
    """``licence`` as packaging spells the SPDX id ('mit' -> 'MIT'); None if it knows none;
    ``licence`` itself where packaging (24.2 or later) is not there (nothing to check with)."""
    try:
        from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression
    except ImportError:
        return licence
    try:
        found = canonicalize_license_expression(licence)
    except InvalidLicenseExpression:
        return None
    return found if re.fullmatch(r"[A-Za-z0-9.+-]+", found) else None


def _spelling(licence: str) -> str:
    """'CC BY_4.0 ' -> 'cc-by-4.0': ids that differ only so are the same licence."""
    return re.sub(r"[\s_]+", "-", licence.strip()).lower()


def check_zoo_licence(licence: str) -> None:
    """``ValueError`` unless ``licence`` is an SPDX licence id the BioImage Model Zoo accepts,
    naming the id meant where one differs only in case, spaces or underscores ('cc-by 4.0'
    is 'CC-BY-4.0'): a package with another one was written, and bioimageio.core.test_model
    then failed with its whole list of licence ids."""
    known = zoo_licence_ids()
    if known is None:
        source = "packaging"
        if _packaging_id(licence) == licence:
            return
        meant = _packaging_id(_spelling(licence))
    else:
        source, ids = known
        if licence in ids:
            return
        meant = {_spelling(i): i for i in ids}.get(_spelling(licence))
    what = (f"is not an SPDX licence id; did you mean {meant!r}?" if meant else
            f"is not an SPDX licence id the BioImage Model Zoo accepts (checked with {source}; "
            "https://spdx.org/licenses/ lists them).")
    raise ValueError(
        f"export_bioimageio: the weights' licence {licence!r} {what} Pass the licence you may "
        f"publish them under, license={meant or 'CC-BY-4.0'!r}, or a card with it, e.g. "
        f"card.model_copy(update={{'license': {meant or 'CC-BY-4.0'!r}}})")
