"""The paths a training run reads and writes, checked without torch: the weights it writes
(``check_weights_output``), its checkpoint folder (``check_checkpoint_dir``; claimed by a
command-line run while it runs, ``claim_checkpoint_dir``) and the weights
it starts from (``missing_weights``; another tool's, as ``foreign_files`` says them). Moved
from ``core.files``, ``core.training.checkpoints`` and ``core.checkpoint``, which import
torch: `train` and `finetune` said a mistake in one of them after a 3-8 s import."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from . import claims, io_write
from .atomic_write import same_file
from .partials import host_tag, remove_stale_partials_of
from .shown import shown_path

#: the files a run writes into its checkpoint folder
RUN_FILES = ("best.safetensors", "best.pt", "last.safetensors", "last.pt")
#: the file a command-line run keeps in its checkpoint folder while it runs: its host, process
#: id and start, so that a second run on the folder is refused (both had passed the check and
#: written over each other's checkpoints); a killed run's is taken over (``claim_checkpoint_dir``)
OWNER_FILE = ".microdeblur-run.owner"
#: the folders this process claimed -> whether the claim made the folder
_CLAIMED: dict[str, bool] = {}
#: weights files read as a plain state dict (``checkpoint.load_model``)
STATE_DICT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")
#: CSBDeep / CARE / n2v weights, refused in words (``checkpoint.load_model``)
KERAS_SUFFIXES = (".h5", ".hdf5", ".keras")


def check_weights_output(path, *, overwrite: bool = True, starting=None) -> Path:
    """Where trained weights will be written, checked before the training, not after it (the
    run's work was lost): a .safetensors name, not the ``starting`` weights file (never
    replaced, even with overwrite), not a read-only file (kept), in a folder that exists and
    can be written in (``io_write.check_output_path``). ``overwrite``: an existing file may be
    replaced (``finetune(out=...)`` replaces one)."""
    path = Path(path)
    if starting is not None and not isinstance(starting, (str, os.PathLike)):
        starting = None  # a (network, card) pair: no file
    if starting is not None and path.is_file() and same_file(path, starting):
        raise ValueError(f"output {shown_path(path)} is the weights= file; give another name "
                         "(the starting weights are never replaced)")
    return io_write.check_output_path(path, overwrite=overwrite, suffixes=(".safetensors",))


def checked_temporary_folder() -> str:
    """The temporary folder (``tempfile.gettempdir``), or one OSError line saying to set TMPDIR:
    torch needs one when the optimiser is made (torch._dynamo), even with --checkpoint-dir, and
    the run had failed with Python's 'No usable temporary directory found in [...]'."""
    try:
        return tempfile.gettempdir()
    except FileNotFoundError as error:
        worded = FileNotFoundError(
            f"no writable temporary folder ({error.strerror or error}); set "
            "TMPDIR=<a writable folder> (torch and the run need one)")
        worded.errno = error.errno  # str() stays the one line (no strerror)
        raise worded from None


def check_checkpoint_dir(path: str | os.PathLike, *, resume: bool,
                         claim: bool = False) -> Path:
    """The checkpoint folder of a run, checked before any work: a folder (made if missing,
    inside an existing one) that can be written, used by no other run now (``OWNER_FILE``),
    and that holds no earlier run's checkpoints unless the run resumes from them (``resume``),
    so nothing there is overwritten unasked. The temporary files of a killed run's checkpoints
    are removed. ``claim``: the folder is made this process's (``claim_checkpoint_dir``)."""
    checked_temporary_folder()  # torch needs one even so
    p = Path(path)
    option = f"checkpoint_dir={str(path)!r}"
    if p.exists() and not p.is_dir():
        raise ValueError(f"{option} is a file; give a folder")
    folder = p if p.exists() else p.parent
    if folder.exists() and not folder.is_dir():  # 'afile/ck' was said to be missing
        raise ValueError(f"{option}: {str(folder)!r} is a file, not a folder")
    if not folder.is_dir():
        raise ValueError(f"{option}: its parent folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or not _can_write(p):
        raise ValueError(f"{option}: {str(folder)!r} is not writable; choose another folder")
    if p.is_dir():  # a run killed while writing a checkpoint left its temporary file
        remove_stale_partials_of([p / n for n in RUN_FILES])
        _refuse_other_run(p, option)
    earlier = [n for n in RUN_FILES if (p / n).exists()]
    resumable = (p / "last.pt").is_file()
    if earlier and not resumable:
        # killed before its first last.pt: --resume had said 'no last.pt', a new run 'resume
        # it', each sending the user to the other
        said = ", ".join(earlier)
        said = (f"{option}: no last.pt to resume from: it holds {said} of a run stopped "
                "before its first last.pt, which cannot be resumed" if resume else
                f"{option} holds an earlier run's {said}, stopped before its first last.pt: "
                "it cannot be resumed")
        raise ValueError(f"{said}; give another folder, or empty this one, for a new run")
    if resume and not resumable:
        raise ValueError(f"{option}: no last.pt to resume from; give the folder of an "
                         "earlier run")
    if earlier and not resume:
        raise ValueError(f"{option} holds an earlier run ({earlier[0]}); resume it or give "
                         "another folder")
    if claim:
        claim_checkpoint_dir(p, option)
    return p


def _is_mine(raw: bytes | None) -> bool:
    found = claims.parse(raw)
    return found is not None and found[:2] == (host_tag(), os.getpid())


def _refuse_other_run(p: Path, option: str, raw: bytes | None = None) -> None:
    """``ValueError`` in one line where another run uses folder ``p`` now (``raw``: its owner
    file's bytes, where read already). A run of another host counts as live however old its
    claim (a training can run for days); so does one of this host whose process cannot be
    judged: the line names the file to remove."""
    owner = p / OWNER_FILE
    raw = claims.read(owner) if raw is None else raw
    if raw is None:  # none, or one this user may not read (made under umask 077): its user's
        other = claims.unreadable_owner(owner, live_for=None)  # live, as another host's
    else:
        other = claims.live_owner(owner, raw, other_host_for=None, own_pid_is_live=False,
                                  undecided_for=None)
    if other is None:
        return
    host, pid, when = other.host, other.pid, other.since
    if other.user:  # 'other runs are taking it now' had sent the user to try again
        if not hasattr(os, "geteuid"):  # Windows: no owners to tell (its st_uid is 0)
            whose, ask = "a run (", ""
        elif other.user == claims.user_name(os.geteuid()):
            whose, ask = "a run of yours (", ""
        else:
            whose, ask = f"another user's run ({other.user}, ", f"ask {other.user} to "
        raise ValueError(f"{option} is claimed by {whose}since {when}; its owner file cannot "
                         f"be read by you); give another folder, or, if that run is over, "
                         f"{ask}remove {shown_path(owner)}")
    if not host:
        raise ValueError(f"{option} is being taken by another run now; give another folder")
    if host == host_tag():
        raise ValueError(f"{option} is in use by another run now (process {pid}, since "
                         f"{when}); wait for it to end, or give another folder (where that "
                         f"process is no run of microdeblur, remove {shown_path(owner)})")
    raise ValueError(f"{option} is in use by a run on {host} (process {pid}, since {when}); "
                     f"give another folder, or, if that run is over, remove {shown_path(owner)}")


def claim_checkpoint_dir(path: str | os.PathLike, option: str = "") -> None:
    """Make folder ``path`` this process's (made if missing): ``OWNER_FILE`` made only where
    there is none (``claims.take``: of two runs, one gets it), holding this host, process id
    and the time. A dead run's (a run killed outright; its process id reused since) is taken
    over; another live run's is refused (``ValueError``). Undone by
    ``release_checkpoint_dirs``."""
    p, option = Path(path), option or f"checkpoint_dir={str(path)!r}"
    key = os.path.abspath(p)
    made = not p.exists()
    p.mkdir(exist_ok=True)

    def mine(raw: bytes) -> bool:
        _refuse_other_run(p, option, raw)
        return _is_mine(raw)  # claimed before by this process; else a dead run's

    def unreadable(_path) -> bool:  # another user's claim: refused as theirs, unless gone
        _refuse_other_run(p, option)
        return False

    taken = claims.take(p / OWNER_FILE, claims.owner_text(), mine, unreadable=unreadable)
    if taken is None:
        raise ValueError(f"{option}: other runs are taking it now; give another folder")
    if taken == claims.MADE:
        _CLAIMED[key] = made
    else:
        _CLAIMED.setdefault(key, made)


def release_checkpoint_dirs() -> None:
    """Remove the owner files this process made (``claim_checkpoint_dir``), and each folder
    the claim made that the run left empty (a run refused after its claim leaves nothing)."""
    for key, made in list(_CLAIMED.items()):
        del _CLAIMED[key]
        owner = Path(key) / OWNER_FILE
        if _is_mine(claims.read(owner)):
            owner.unlink(missing_ok=True)
        if made:
            try:
                os.rmdir(key)
            except OSError:  # the run wrote its checkpoints there: kept
                pass


def _can_write(p: Path) -> bool:
    """Whether a file can be made in folder ``p`` (made and removed again when missing): as
    root ``os.access`` says yes to /sys and /proc, and the run would fail at its first
    checkpoint, after the training it cannot keep."""
    made = not p.exists()
    try:
        if made:
            p.mkdir()
        with tempfile.TemporaryFile(dir=p):
            pass
    except OSError:
        return False
    finally:
        if made and p.is_dir():
            p.rmdir()  # the run makes it again; a refused run leaves nothing
    return True


def missing_weights(path_or_name: str | os.PathLike, bundled_names: list[str]) -> None:
    """``ValueError`` in one line saying what to change where ``path_or_name`` (not a bundled
    name: ``checkpoint.load_model`` looks those up first) is a folder or no file."""
    from .foreign_files import KNOWN_WEIGHTS, folder_not_weights

    path = Path(path_or_name)
    if path.is_dir():  # a CSBDeep/CARE model folder: its Keras weights are not read
        raise ValueError(f"{path}: {folder_not_weights(path)}")
    if path.is_file() and path.suffix.lower() not in KNOWN_WEIGHTS:
        _other_weights(path)
    if not path.is_file():
        text = str(path_or_name)
        if ("/" in text or os.sep in text or path.suffix.lower()
                in (".safetensors", ".zip", *STATE_DICT_SUFFIXES, *KERAS_SUFFIXES)):
            # a path, not a bundled name: the bundled list would only be noise
            raise ValueError(f"no weights file {shown_path(path_or_name)}: no such file; "
                             f"check the name and the folder (relative to {os.getcwd()})")
        raise ValueError(
            f"no weights file {shown_path(path_or_name)} and no bundled weights of that name "
            f"(bundled: {bundled_names if bundled_names else 'none yet'})"
        )


def _other_weights(path: Path) -> None:
    """Refuse a weights file of an ending ``load_model`` does not read by what its bytes hold
    (``foreign_files``): Cellpose's models, saved without an ending, had been 'unknown weights
    format ""'. A PyTorch file's refusal reads its tensor names (torch); .safetensors bytes
    are read as they are."""
    from .foreign_files import sniff, torch_file_refusal, unknown_weights_said

    if sniff(path) == "torch":
        raise torch_file_refusal(path)
    said = unknown_weights_said(path)
    if said:
        raise ValueError(said)
