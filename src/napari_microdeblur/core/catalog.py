"""Every method this installation offers, one description each (``microdeblur methods``).

::

    for entry in list_methods():
        print(entry.name, entry.kind, entry.needs_psf)

``kind``: ``classical`` (deconvolution with a PSF), ``network`` (bundled weights of a blind
network), ``psf_aware`` (bundled weights of a network that takes the PSF) or ``architecture``
(a registered network that needs ``--weights``). ``training_data_license`` comes from the
bundled weights table; the modality from the table of default networks by image type, else
the entry's own. ``installed`` is False for bundled weights whose file is missing or unreadable
(the description then says so); the rest are listed all the same.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .method import CLASSICAL_METHODS

__all__ = ["IMAGE_TYPE_KEY", "TRAINING_SETS_KEY", "MethodEntry", "card_image_type",
           "card_modality", "card_training_sets", "finetuned_lineage", "list_methods"]

#: deconvolution of planes or of whole z-stacks with a 3D PSF
CLASSICAL_DIMS = (2, 3)

#: the metrics keys under which a fine-tuned network's card carries its base's image type and
#: the training sets behind it (ModelCard has no field of its own for them)
IMAGE_TYPE_KEY = "image_type"
TRAINING_SETS_KEY = "training_sets"

#: the image type bundled weights were trained for, as a model card says it
MODALITY_WORDS = {"em": "electron micrographs (EM)", "fluorescence": "fluorescence",
                  "brightfield": "brightfield and histology", "any": "any image type"}


@dataclass(frozen=True)
class MethodEntry:
    name: str
    kind: str
    arch: str | None
    modality: str
    needs_psf: bool
    spatial_dims: tuple[int, ...]
    training_data_license: str | None
    description: str
    installed: bool = True

    def as_dict(self) -> dict:
        return {**asdict(self), "spatial_dims": list(self.spatial_dims)}


def _arch_dims(record) -> tuple[int, ...]:
    """The spatial dims an architecture's config allows (2 when it has no such field)."""
    field = record.config_cls.model_fields.get("spatial_dims")
    if field is None:
        return (2,)
    args = getattr(field.annotation, "__args__", None)
    return tuple(sorted(int(a) for a in args)) if args else (int(field.default),)


def _modality_of(name: str) -> str:
    """The image type whose default list names the weights, else the one their entry states."""
    from .bundled import BUNDLED_WEIGHTS, DEFAULTS_BY_MODALITY

    return next((m for m, names in DEFAULTS_BY_MODALITY.items() if name in names),
                BUNDLED_WEIGHTS[name].modality)


def _bundled_entries() -> list[MethodEntry]:
    from . import registry
    from .bundled import BUNDLED_WEIGHTS, WEIGHTS_DIR, is_installed, split_name
    from .checkpoint import read_card

    entries = []
    for name, entry in BUNDLED_WEIGHTS.items():
        arch, _ = split_name(name)
        record = registry.get_arch(arch)
        needs_psf = bool(getattr(record.module_cls, "needs_psf", False))
        installed, dims, description = is_installed(name), _arch_dims(record), entry.description
        if installed:
            try:
                dims = (read_card(WEIGHTS_DIR / entry.file).spatial_dims,)
            except ValueError:  # truncated or corrupt: list it as unusable, list the rest
                installed = False
                description += (f"; its file {entry.file} is unreadable: reinstall "
                                "napari-microdeblur")
        entries.append(MethodEntry(
            name=name, kind="psf_aware" if needs_psf else "network", arch=arch,
            modality=_modality_of(name), needs_psf=needs_psf, spatial_dims=dims,
            training_data_license=entry.license, description=description,
            installed=installed))
    return entries


def list_methods() -> list[MethodEntry]:
    """The classical methods, the bundled weights and the registered architectures."""
    from . import registry

    entries = [MethodEntry(name=name, kind="classical", arch=None, modality="any",
                           needs_psf=True, spatial_dims=CLASSICAL_DIMS,
                           training_data_license=None, description="needs --psf")
               for name in CLASSICAL_METHODS]
    entries += _bundled_entries()
    for name in registry.list_archs():
        record = registry.get_arch(name)
        entries.append(MethodEntry(
            name=name, kind="architecture", arch=name, modality="any",
            needs_psf=bool(getattr(record.module_cls, "needs_psf", False)),
            spatial_dims=_arch_dims(record), training_data_license=None,
            description=f"needs --weights FILE; {record.description}"))
    return entries


def _bundled_name(card) -> str | None:
    """The bundled weights ``card`` was read from (its source is their file, or their name as
    ``load_bundled`` sets it, or its sha256 theirs), else None."""
    from pathlib import Path

    from .bundled import BUNDLED_WEIGHTS, WEIGHTS_DIR

    if card.source in BUNDLED_WEIGHTS:
        return card.source
    by_hash = next((name for name, entry in BUNDLED_WEIGHTS.items()
                    if card.sha256 and entry.sha256 == card.sha256), None)
    if by_hash is not None or not card.source:
        return by_hash
    source = Path(card.source).resolve()
    return next((name for name, entry in BUNDLED_WEIGHTS.items()
                 if (WEIGHTS_DIR / entry.file).resolve() == source), None)


def card_image_type(card) -> str:
    """A model card's image type: what bundled weights were trained for (a brightfield
    network's card said only 'grayscale images (YX)'), then the arrays it takes."""
    channels = {1: "grayscale", 3: "RGB"}.get(card.in_channels, f"{card.in_channels}-channel")
    # RGB ones' colour is their S axis, as info names an RGB file's (YXS); it said (YX)
    axes = ("ZYX" if card.spatial_dims == 3 else "YX") + "S" * (card.in_channels == 3)
    arrays = f"{channels} {'volumes' if card.spatial_dims == 3 else 'images'} ({axes})"
    if card.in_channels == 1:  # deblur runs an RGB image through it one channel at a time
        arrays += ", RGB ones a channel at a time"
    modality = card_modality(card)
    if modality is None:
        return arrays
    return f"{MODALITY_WORDS.get(modality, modality)}; {arrays}"


def card_modality(card) -> str | None:
    """The image type ('em', 'brightfield', ...) of bundled weights, or the one a fine-tuned
    network's card carries from its base (``IMAGE_TYPE_KEY``); None when unknown."""
    name = _bundled_name(card)
    if name is not None:
        return _modality_of(name)
    value = (card.metrics or {}).get(IMAGE_TYPE_KEY)
    return str(value) if value else None


def card_training_sets(card) -> tuple[str, ...]:
    """The data sets whose training splits bundled weights learned, named whole (the dock cut
    the card's text after its first set); for a fine-tuned network, its base's sets and then
    the data it was fine-tuned on (``TRAINING_SETS_KEY``); () for other weights."""
    from .bundled import BUNDLED_WEIGHTS

    name = _bundled_name(card)
    if name is not None:
        return BUNDLED_WEIGHTS[name].training_sets
    return tuple(str(s) for s in (card.metrics or {}).get(TRAINING_SETS_KEY) or ())


def finetuned_lineage(base, own: str) -> dict:
    """For a fine-tuned network's card metrics: its base card's image type and training sets,
    then ``own``, the data trained on (no base: a new network): `info` showed no image type
    and no training sets for a fine-tuned network."""
    if base is None:
        return {TRAINING_SETS_KEY: [own]}
    modality = card_modality(base)
    return {**({IMAGE_TYPE_KEY: modality} if modality else {}),
            TRAINING_SETS_KEY: [*card_training_sets(base), own]}
