"""Fine-tunes kept from earlier sessions, offered in the docks' method lists: the Fine-tune
dock keeps each run's weights in ``_finetune_files.kept_weights_dir``, but nothing read that
folder, so a model fine-tuned yesterday could be had only through Load weights..., under its
file's name. Each file is offered under the name its session gave it (``<base> fine-tuned on
<layer>``, read back from the file name and the model card), newest first. Listing reads the
headers only (a damaged file is left out, said in one warning line per file; another user's
file this user may not read, in a line of its own that never advises deleting it); the network
loads the first time a dock uses it (``KeptModel.model``), with every check of
``core.checkpoint.load_model``. Torch is imported only by the functions that need it.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

from ._methods import SessionModel

#: a name ``_finetune_files.keep_weights`` writes: '<YYYYmmdd-HHMMSS>_<name>[_N]'
_STAMPED = re.compile(r"(\d{8})-(\d{2})(\d{2})(\d{2})_(.+)")
#: the words a run's name puts between its base and its layer (``FinetuneWidget._run_name``)
_VERBS = ("fine-tuned", "trained")

#: (mtime, size) and the card, or the reason it cannot be read, of each file read (by path)
_READ: dict[str, tuple[tuple, object]] = {}
#: the unreadable files already said (once each per session)
_SAID: set[str] = set()


class NotReadableHere(ValueError):
    """A kept file this user may not read (another user's private file on a shared folder):
    not damaged, so never said as damage nor with advice to delete it."""


class KeptModel(SessionModel):
    """A kept fine-tune: its card as its header holds it; the network read from the file
    the first time ``model`` is asked for (then the card gets the file's sha256, which
    layers deblurred with it record)."""

    __eq__ = object.__eq__  # the dataclass's would compare (and so load) the networks
    __hash__ = object.__hash__

    def __init__(self, label: str, path: Path, card, when: str) -> None:
        self._lock = threading.Lock()
        self._model = None
        super().__init__(label, None, card, "kept",
                         {"file": str(path), "name": label, "when": when})

    @property
    def model(self):
        with self._lock:  # a worker and the dock may ask at once
            if self._model is None:
                self._model = self._load()
            return self._model

    @model.setter
    def model(self, value) -> None:
        self._model = value

    def _load(self):
        from ..core.checkpoint import load_model

        try:
            model, card = load_model(self.extra["file"])
        except ValueError as error:
            raise ValueError(f"kept fine-tune {self.label!r} could not be loaded: {error}; "
                             "choose another method") from None
        self.card.sha256 = card.sha256
        return model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def __repr__(self) -> str:
        return f"KeptModel({self.label!r}, {self.extra['file']!r})"


def read_header_card(path: Path):
    """The model card of a .safetensors file from its header alone (its tensors are checked
    when it loads), and what tells its weights from others' there (the card as written and
    the hash of the tensors). ValueError saying why it cannot be read (``NotReadableHere``
    where this user may not read it)."""
    from safetensors import safe_open

    from ..core.checkpoint import CARD_KEY, ModelCard
    from ..core.registry import list_archs
    from ..core.state_dict_files import TENSORS_HASH_KEY
    from ..core.training.unreadable import permission_words, probe_permission

    # safetensors says 'No such file or directory' for permission denied: asked here first
    if probe_permission(path) is not None:
        raise NotReadableHere(f"{Path(path).absolute()}: {permission_words(path)}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # SafetensorError, OSError: truncated, not safetensors
        raise ValueError(f"not a readable safetensors file ({_first_line(exc)})") from None
    if CARD_KEY not in meta:
        raise ValueError("no napari-microdeblur model card in it")
    try:
        card = ModelCard.model_validate_json(meta[CARD_KEY])
    except ValueError as exc:  # pydantic's ValidationError, over several lines
        raise ValueError(f"its model card cannot be read ({_first_line(exc)})") from None
    if card.arch not in list_archs():
        raise ValueError(f"its architecture {card.arch!r} is not one of this version's")
    card.source = str(path)
    return card, (meta[CARD_KEY], meta.get(TENSORS_HASH_KEY))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:120]


def kept_name(path: Path, card) -> str:
    """The name the session gave the weights in ``path`` (``<base> fine-tuned on <layer>``):
    the file's name after its time stamp, with the base and the layer as the card spells them
    where they give that file name (else as the file spells them)."""
    stem = Path(path).name[: -len(".safetensors")]
    stamped = _STAMPED.fullmatch(stem)
    name = stamped[5] if stamped else stem
    for verb in _VERBS:
        base, sep, layer = name.rpartition(f"_{verb}_on_")  # a base fine-tuned before: last
        if sep:  # the card's description starts with the base, its training data quotes
            bases = [card.description.split(words)[0]  # the layer (``core.finetune``)
                     for words in (f" {verb} for ", " adapted without")]
            layers = re.findall(r"'([^']*)'", card.training_data)
            return f"{_as_written(base, bases)} {verb} on {_as_written(layer, layers)}"
    return name


def _as_written(part: str, candidates: list[str]) -> str:
    """The candidate the file name's ``part`` was made from (its characters other than
    letters, digits, '.', '_', '-' became '_'; '_2' added for a name taken), else ``part``
    with the words of a run's name spaced again."""
    from ._finetune_files import safe_name

    for text in (part, re.sub(r"_\d+$", "", part)):
        found = next((c for c in candidates
                      if c and safe_name(c).strip("_") == text.strip("_")), None)
        if found is not None:
            return found + part[len(text):]
    for verb in _VERBS:
        part = part.replace(f"_{verb}_on_", f" {verb} on ")
    return part


def _stamp(path: Path, mtime: float) -> str:
    """'YYYYmmdd-HHMMSS' of when the file was kept: its name's, else its time."""
    found = _STAMPED.fullmatch(path.stem)
    if found:
        return f"{found[1]}-{found[2]}{found[3]}{found[4]}"
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(mtime))


def scan_kept(folder: Path) -> tuple[list[KeptModel], list[str], list[str]]:
    """The kept fine-tunes in ``folder``, newest first, one line per file that cannot be read
    (damaged) and one per file this user may not read (its full path, its owner). Only files
    not read before (or changed since) are opened, and only their headers."""
    try:
        paths = [p for p in Path(folder).glob("*.safetensors") if not p.name.startswith(".")]
    except OSError:
        return [], [], []
    found, problems, denied, identities = [], [], [], set()
    for path in sorted(paths, reverse=True):  # the newest of identical files is offered
        try:
            stat = path.stat()
        except OSError:  # deleted meanwhile
            continue
        key = (stat.st_mtime_ns, stat.st_size)
        seen = _READ.get(str(path))
        if seen is None or seen[0] != key:
            try:
                seen = (key, read_header_card(path))
            except NotReadableHere as error:  # not kept: its owner's chmod is seen next time
                denied.append(str(error))
                continue
            except ValueError as error:
                seen = (key, str(error))
            _READ[str(path)] = seen
        if isinstance(seen[1], str):
            problems.append(f"{path.name}: {seen[1]}")
            continue
        card, identity = seen[1]
        if identity[1] is not None and (stat.st_size, identity) in identities:
            continue  # the same weights kept twice (before they were kept once)
        identities.add((stat.st_size, identity))
        stamp = _stamp(path, stat.st_mtime)
        when = f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}"
        card = card.model_copy()  # its sha256 is filled on load: not in the cache's
        found.append((stamp, KeptModel(kept_name(path, card), path, card, when)))
    found.sort(key=lambda pair: pair[0], reverse=True)
    return [item for _, item in found], problems, denied


def offer_kept_models(models) -> bool:
    """Offer the kept fine-tunes in ``kept_weights_dir()`` in ``models``
    (``SessionModels.offer_kept``); unreadable files are left out, said once each in one
    warning line. Whether the offer changed."""
    from ._finetune_files import kept_weights_dir

    folder = kept_weights_dir()
    found, problems, denied = scan_kept(folder)
    new = [p for p in problems if f"{folder}/{p}" not in _SAID]
    new_denied = [line for line in denied if line not in _SAID]  # each names its full path
    if new or new_denied:
        from ._feedback import notify_warning

        _SAID.update([f"{folder}/{p}" for p in new] + new_denied)
    if new:
        notify_warning(f"kept fine-tune(s) left out of the method lists, unreadable: "
                       f"{'; '.join(new)}; delete them from {folder}")
    if new_denied:  # another user's private weights: theirs to share, not damaged
        notify_warning("kept fine-tune(s) left out of the method lists, not readable by this "
                       f"user (not damaged: keep them): {'; '.join(new_denied)}")
    return models.offer_kept(found)


def kept_tooltip(item) -> str:
    """The method list's tooltip of a kept fine-tune: what it is and where it is."""
    what = item.card.training_data or item.card.description
    return (f"Fine-tuned in an earlier session, kept in {item.extra['file']} (loaded when "
            f"first used). {what}")


#: the folder Load weights... last loaded from in this session
_LAST_FOLDER: list[str] = []


def weights_start_folder() -> str:
    """Where Load weights... opens: the folder it last loaded from in this session, else the
    kept fine-tunes' folder where it exists (a hidden cache folder the user had to browse
    to), else Qt's choice ('')."""
    if _LAST_FOLDER and Path(_LAST_FOLDER[0]).is_dir():
        return _LAST_FOLDER[0]
    from ._finetune_files import kept_weights_dir

    kept = kept_weights_dir()
    return str(kept) if kept.is_dir() else ""


def remember_weights_folder(path) -> None:
    """Load weights... chose ``path``: the next one opens in its folder."""
    _LAST_FOLDER[:] = [str(Path(path).parent)]
