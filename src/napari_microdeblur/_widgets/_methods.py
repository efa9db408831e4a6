"""The methods a dock offers, by name: ``'auto'``, the bundled weights (``arch.tag``), the
networks loaded or fine-tuned in this session (by their label), the fine-tunes kept from
earlier sessions (``_kept_models``, by the name their session gave them), and the classical
methods.
A method combo box holds these names as item data; a name other than a session label is a
``core.method.MethodSpec`` name.

The core (and torch) is imported inside functions: the docks load it when they open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from psygnal import Signal
from qtpy.QtCore import Qt

AUTO = "auto"
CLASSICAL_LABELS = {"richardson_lucy": "Richardson-Lucy (PSF)", "wiener": "Wiener (PSF)"}


# ----------------------------------------------------------------------------- session models


@dataclass
class SessionModel:
    """A network available in this session: loaded from a file or fine-tuned here."""

    label: str  # shown in the method list and used in result names
    model: Any  # torch.nn.Module
    card: Any  # core.checkpoint.ModelCard
    origin: str = "loaded"  # "loaded" or "fine-tuned"
    extra: dict = field(default_factory=dict)


class SessionModels:
    """Networks loaded or fine-tuned in this session, shared by every dock of every viewer,
    and the fine-tunes kept from earlier sessions (``_kept_models``: offered, loaded when
    first used; ``kept_labels``). Labels never equal a method name of the core ('auto', a
    bundled or classical name); a kept one yields its label to a network of the session."""

    changed = Signal()

    def __init__(self) -> None:
        self._items: dict[str, SessionModel] = {}
        self._kept: dict[str, SessionModel] = {}  # newest first

    def add(self, item: SessionModel) -> str:
        """The label ``item`` is offered under: a new one, or where the same weights file
        (its sha256) was loaded already, or a fine-tune of this session kept the same file
        (``held_as``), that one's label (a second load added 'ft (2)', identical to 'ft').
        The weights of a kept fine-tune offered take the name its session gave them."""
        if (same := self.held_as(item)) is not None:
            return same
        kept = next((k for k in self._kept.values() if _same_file(item, k)), None)
        if kept is not None:  # loaded now: under the name its session gave it
            del self._kept[kept.label]
            item.label = kept.extra["name"]
        label = item.label
        n = 2
        # an earlier session's fine-tune keeps its name: a dock that chose it goes on running
        # it (renaming it had moved that choice to the new network, unsaid)
        while label in core_method_names() or label in self._kept or (
                label in self._items and self._items[label].model is not item.model):
            label = f"{item.label} ({n})"
            n += 1
        item.label = label
        self._items[label] = item
        self.changed.emit()
        return label

    def held_as(self, item: SessionModel) -> str | None:
        """The label of the network of this session ``item`` is: the same loaded weights
        (``loaded_as``), or for a fine-tune the same kept file (its weights were kept before;
        not for loads: a file written again since holds other weights)."""
        if item.origin == "loaded":
            return self.loaded_as(item)
        return next((label for label, other in self._items.items()
                     if other.origin != "loaded" and _same_file(item, other)), None)

    def loaded_as(self, item: SessionModel) -> str | None:
        """The label of the loaded weights with ``item``'s sha256 (loaded ones only: a
        fine-tuned network is new even where it kept its start); None where there are none."""
        digest = getattr(item.card, "sha256", None)
        if item.origin != "loaded" or not digest:
            return None
        return next((label for label, other in self._items.items()
                     if other.origin == "loaded"
                     and getattr(other.card, "sha256", None) == digest), None)

    def get(self, label: str) -> SessionModel | None:
        return self._items.get(label) or self._kept.get(label)

    def remove(self, label: str) -> None:
        if (self._items.pop(label, None) or self._kept.pop(label, None)) is not None:
            self.changed.emit()

    def labels(self) -> list[str]:
        """The networks of this session (loaded or fine-tuned), not the kept ones."""
        return list(self._items)

    def kept_labels(self) -> list[str]:
        """The fine-tunes kept from earlier sessions, newest first."""
        return list(self._kept)

    def offer_kept(self, found: list[SessionModel]) -> bool:
        """Offer the kept fine-tunes ``found`` (newest first, each with its file and name in
        ``extra['file']`` and ``extra['name']``), but no file a network of this session
        holds; those offered before keep their label, files gone are dropped. Whether the
        offer changed."""
        before = {label: item.extra["file"] for label, item in self._kept.items()}
        held = {item.extra["file"]: item for item in self._kept.values()}
        offered: dict[str, SessionModel] = {}
        for item in found:
            if any(_same_file(item, other) for other in self._items.values()):
                continue
            item = held.get(item.extra["file"], item)  # the label it was offered under
            label, n = item.label, 2
            while (label in core_method_names() or label in self._items
                   or label in offered):
                label = f"{item.extra['name']} ({n})"
                n += 1
            item.label = label
            offered[label] = item
        self._kept = offered
        return before != {label: item.extra["file"] for label, item in offered.items()}

    def clear(self) -> None:
        self._items.clear()
        self._kept.clear()
        self.changed.emit()


def _file_of(item: SessionModel) -> str | None:
    """The weights file a network of the docks was read from or kept in, if any."""
    return item.extra.get("file") or getattr(item.card, "source", None) or None


def _same_file(a: SessionModel, b: SessionModel) -> bool:
    from ..core.atomic_write import same_file

    first, second = _file_of(a), _file_of(b)
    return bool(first and second) and (first == second or same_file(first, second))


SESSION_MODELS = SessionModels()


# ----------------------------------------------------------------------------- names


def core_method_names() -> tuple[str, ...]:
    from ..core import bundled
    from ..core.method import CLASSICAL_METHODS

    return (AUTO, *CLASSICAL_METHODS, *bundled.BUNDLED_WEIGHTS)


def is_classical(name: str | None) -> bool:
    return name in CLASSICAL_LABELS


def is_psf_aware(name: str | None) -> bool:
    """Whether ``name`` (a bundled name or a session network) is a network that takes a PSF."""
    from ..core import bundled, registry

    if name is None or name == AUTO or is_classical(name):
        return False
    item = SESSION_MODELS.get(name)
    if item is not None:
        arch = item.card.arch
    elif name in bundled.BUNDLED_WEIGHTS:
        arch = bundled.split_name(name)[0]
    else:
        return False
    if arch not in registry.list_archs():
        return False
    return bool(getattr(registry.get_arch(arch).module_cls, "needs_psf", False))


def auto_words(spec, rgb: bool) -> str:
    """What 'auto' (``spec``) runs on an image, in words that name only networks that may run:
    ``core.bundled.auto_label``, and where the PSF is estimated from the image the blind
    network that runs instead when the image gives no estimate
    (``image_settings.spec_for_image``)."""
    from ..core import bundled

    words = bundled.auto_label(spec, rgb)
    blind = bundled.auto_blind_fallback(spec, rgb)
    if blind is None:
        return words
    return f"{words} (or the blind network {blind} if the image gives no PSF estimate)"


#: beside what 'auto' runs, where it takes a grayscale layer for fluorescence only because
#: Image type is auto (``gray_auto_note``, the whole line in its tooltip): short, as the dock
#: is as wide as its widest line (an EM user got the fluorescence network with no hint)
GRAY_AUTO_SUFFIX = "(as fluorescence; for EM choose EM)"


def gray_auto_note(spec, axes: str, shape, dtype=None) -> str:
    """Where 'auto' (``spec``) runs a grayscale image (``axes``, ``shape``, ``dtype``) as
    fluorescence only because its image type is auto: the command line's and the Python API's
    line (``core.image_settings.gray_auto_words``) in the dock's words; else ''."""
    from ..core.image_settings import colour_channels_words, gray_auto, gray_auto_words

    if not gray_auto(spec, axes, shape):
        return ""
    colour = colour_channels_words(axes, shape, dtype, "type {} in Axes".format)
    words = gray_auto_words(lambda value: f"Image type {'EM' if value == 'em' else value}",
                            colour)
    return words.replace(" give ", " choose ", 1)  # a dock's combo is chosen, not given


def auto_modality_note(spec, axes: str, shape, dtype=None) -> str:
    """The Deblur dock's status line's note where 'auto' took its image type from the image:
    ``gray_auto_note`` for a grayscale one; for RGB(A) the command line's brightfield line
    (``core.image_settings.rgb_auto_words``), as a fluorescence composite saved as RGB ran as
    brightfield with no hint; else ''."""
    from ..core.image_settings import rgb_auto, rgb_auto_words

    if not rgb_auto(spec, axes, shape):
        return gray_auto_note(spec, axes, shape, dtype)
    return rgb_auto_words(lambda value: f"Image type {value}").replace(" give ", " choose ", 1)


def add_loaded_weights(path, model, card) -> tuple[str, str]:
    """Offer weights loaded from ``path`` as a session network: (its label, the line saying
    so). The same file loaded again (its sha256) is the network already offered, and the
    line says that."""
    from pathlib import Path

    item = SessionModel(Path(path).stem, model, card, "loaded")
    already = SESSION_MODELS.loaded_as(item)
    label = SESSION_MODELS.add(item)  # a kept fine-tune: under the name it was offered as
    if already is not None:
        return label, (f"{Path(path).name} is already loaded as {label!r} (the same sha256); "
                       "chose it")
    return label, f"loaded {card.arch} weights from {Path(path).name} as {label!r}"


#: words of ``core.checkpoint`` where a state dict does not fit an architecture's paper
#: configuration, the only one a dock can build, and of what it then found the file to be
#: (``state_dict_files.other_config_advice``)
_NOT_PAPER = "in its paper configuration"
_OTHER_CONFIG = ("; the file holds another configuration of ",
                 "; if the file holds another configuration of ")
_OTHER_NETWORK = re.compile(r"; its tensors are named as in an? (\w+) network, not an? \w+ one")
#: the core's words for weights that name no architecture (``ArchitectureUnknownError``)
_NO_ARCH = "; pass arch= (one of "
#: what Load weights takes, as ``cli_words.ACCEPTED_WEIGHTS`` says it for --weights
_ACCEPTED = ("a .safetensors file written by microdeblur train or finetune (or the Fine-tune "
             "dock), a BioImage Model Zoo .zip it exported, or a state dict of one of its "
             "networks")


def _holds(path) -> str:
    """'it holds N tensors such as 'a', 'b', named' of a state dict file, as the command line
    says it ('its tensors are named' where it cannot be read again)."""
    try:
        names = _tensor_names(path)
    except (ValueError, OSError):
        return "its tensors are named"
    return f"it holds {len(names)} tensors such as {', '.join(map(repr, names[:2]))}, named"


def _tensor_names(path) -> list[str]:
    """The tensor names of a state dict file: a .safetensors one's from its header (it was
    read as a PyTorch pickle, which it is not), any other's by loading it."""
    from pathlib import Path

    from ..core import state_dict_files

    path = Path(path)
    if not state_dict_files.looks_like_safetensors(path):
        return list(state_dict_files.read_state_dict_file(path, str(path)))
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return list(f.keys())
    except Exception as exc:  # SafetensorError: a damaged file
        raise ValueError(f"{path}: {exc}") from None


def load_failure_line(path, error_text: str, arch: str | None = None) -> str:
    """The line for weights that could not be loaded. A state dict that does not fit the
    architecture chosen in its paper configuration (the one a dock builds) is said as what it
    is, once: another tool's network (the command line's words), another of our
    architectures (choose it), or another configuration (the core's conversion, then load
    the converted file here); the tensor lists of the mismatch are left out."""
    from pathlib import Path

    from ..core import state_dict_files as sd_files
    from ..core.registry import list_archs

    line = f"could not load weights: {error_text}"
    if _NO_ARCH in error_text:  # the core's 'pass arch= (... --method ARCH)': not a dock's
        return _no_architecture_line(path, error_text)
    facts = sd_files.read_checkpoint_facts(path)  # a run's last.pt / best.pt, by its content
    if facts is not None and facts["beside"]:  # the core's line names --weights: loaded here
        return (f"could not load weights: {Path(path).name} is "
                f"{sd_files.checkpoint_words(facts, 'load {} here')}")
    if _NOT_PAPER not in error_text:
        return line
    name = Path(path).name
    for marker in _OTHER_CONFIG:
        if marker in error_text:  # the core's conversion, with the config the tensors fit
            advice = error_text[error_text.index(marker) + 2:].split(", then it loads by")[0]
            converted = Path(sd_files.converted_name(str(path))).name
            return (f"could not load weights: {name} does not fit {arch or 'the architecture'} "
                    f"in its paper configuration, the only one a dock builds; {advice}, then "
                    f"load {converted} here (its card records the configuration)")
    if found := _OTHER_NETWORK.search(error_text):
        return (f"could not load weights: {name} is not a {arch} network: its tensors are "
                f"named as in a {found[1]} network; load it again and choose {found[1]} as its "
                "architecture")
    return (f"could not load weights: {name} is not a microdeblur network: {_holds(path)} "
            f"as in none of {', '.join(list_archs())}; accepted: {_ACCEPTED}")


def _no_architecture_line(path, error_text: str) -> str:
    """Weights that name no architecture (a state dict loaded without choosing one), said
    as the dock takes them: Load weights again, choosing the architecture it asks for."""
    from pathlib import Path

    from ..core.registry import list_archs

    name = Path(path).name
    like = re.search(r"named as in an? (\w+) network\)$", error_text)
    if like is None:
        return (f"could not load weights: {name} is not a microdeblur network: {_holds(path)} "
                f"as in none of {', '.join(list_archs())}; accepted: {_ACCEPTED}")
    return (f"could not load weights: {name} has no model card naming its architecture; "
            f"{_holds(path)} as in a {like[1]} network: load it again with Load weights and "
            f"choose {like[1]} when it asks for the architecture")


def architecture_question(path) -> tuple[str, list[str], int] | None:
    """What Load weights asks of weights that do not name their architecture: (the
    question, the architectures, the one to offer first: the one the tensors are named as);
    None for weights with a model card (or unreadable: loading them says why). A state dict
    saved as .safetensors without a card was loaded unasked and failed with the command
    line's 'pass arch='."""
    from pathlib import Path

    from ..core import state_dict_files as sd_files
    from ..core.checkpoint import CARD_KEY
    from ..core.registry import list_archs

    path = Path(path)
    archs = list_archs()
    if sd_files.looks_like_safetensors(path):
        try:
            meta, _ = sd_files.read_safetensors_file(path, str(path), tensors=False)
        except (ValueError, OSError):
            return None
        if CARD_KEY in meta:
            return None
        like = sd_files.named_as(_tensor_names(path))
        first = archs.index(like[0]) if like and like[0] in archs else 0
        return ("This .safetensors file has no model card naming its architecture.\n"
                "Which one is it?", archs, first)
    if path.suffix.lower() in (".pt", ".pth", ".ckpt", ".bin"):
        return ("A PyTorch state dict does not record its architecture.\nWhich one is it?",
                archs, 0)
    return None


def session_model(name: str) -> SessionModel:
    item = SESSION_MODELS.get(name)
    if item is None:
        raise ValueError(
            f"method {name!r} is no longer loaded in this session; load the weights again"
        )
    return item


#: how the method list marks bundled weights whose file is missing or unreadable
NOT_INSTALLED = " (not installed)"


def bundled_problem(name: str) -> str | None:
    """None when the bundled weights ``name`` can be used, else one line saying their file is
    missing or unreadable and the fix (the same test as ``core.catalog``'s ``installed``)."""
    from ..core import bundled, checkpoint

    entry = bundled.BUNDLED_WEIGHTS[name]
    if not bundled.is_installed(name):
        state = "is missing"
    else:
        try:
            checkpoint.read_card(bundled.WEIGHTS_DIR / entry.file)
            return None
        except ValueError:  # truncated or corrupt (a git-lfs pointer, a cut copy)
            state = "is unreadable"
    return (f"bundled weights {name}: their file {entry.file} {state}; reinstall "
            "napari-microdeblur, or choose another method")


def method_card(name: str, rgb: bool = False, spec=None):
    """The model card of a method: None for classical methods; bundled: the file's header,
    with the sha256 of the bundled-weights table; 'auto': the card of the network 'auto'
    picks for an image (``rgb``) with ``spec``'s image type and PSF (None: neither), or None
    when no weights are installed. ValueError when 'auto' has no network for the image type."""
    from ..core import bundled, checkpoint
    from ..core.bundled import auto_method_name
    from ..core.method import MethodSpec

    if name == AUTO:
        if not bundled.BUNDLED_WEIGHTS:
            return None
        name = auto_method_name(spec if spec is not None else MethodSpec(), rgb)
    if is_classical(name):
        return None
    if name in bundled.BUNDLED_WEIGHTS:
        problem = bundled_problem(name)
        if problem is not None:  # the card line says it when chosen, and Start refuses it
            raise ValueError(problem)
        entry = bundled.BUNDLED_WEIGHTS[name]
        card = checkpoint.read_card(bundled.WEIGHTS_DIR / entry.file)
        card.sha256 = entry.sha256
        return card
    return session_model(name).card


def fill_method_combo(widget, *, leading=(), classical: bool = True) -> None:
    """(Re)fill a method combo box with method names as item data: ``leading`` (text, name)
    items, the bundled weights (marked ``NOT_INSTALLED`` where ``bundled_problem`` finds their
    file missing or unreadable), this session's networks, the fine-tunes kept from earlier
    sessions (``_kept_models``: read from their headers now, loaded when first used) and
    (``classical``) the classical methods. The current choice is kept if it is still offered;
    a change in the kept ones refills the other docks' lists too."""
    from ..core import bundled
    from ._kept_models import kept_tooltip, offer_kept_models

    offered = offer_kept_models(SESSION_MODELS)
    current = widget.currentData()
    widget.blockSignals(True)
    try:
        widget.clear()
        for text, name in leading:
            widget.addItem(text, name)
        for name, entry in bundled.BUNDLED_WEIGHTS.items():
            problem = bundled_problem(name)
            mark = NOT_INSTALLED if problem else ""
            widget.addItem(f"{name} (bundled){mark}", name)
            widget.setItemData(widget.count() - 1, problem or entry.description,
                               Qt.ToolTipRole)
        for name in SESSION_MODELS.labels():
            widget.addItem(f"{name} ({SESSION_MODELS.get(name).origin})", name)
        for name in SESSION_MODELS.kept_labels():
            item = SESSION_MODELS.get(name)
            widget.addItem(f"{name} (kept {item.extra['when']})", name)
            widget.setItemData(widget.count() - 1, kept_tooltip(item), Qt.ToolTipRole)
        for name, text in CLASSICAL_LABELS.items() if classical else ():
            widget.addItem(text, name)
        index = widget.findData(current) if current else -1
        widget.setCurrentIndex(max(index, 0))
    finally:
        widget.blockSignals(False)
    if offered:
        SESSION_MODELS.changed.emit()
