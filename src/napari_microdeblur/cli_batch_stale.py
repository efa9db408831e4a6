"""The outputs a `deblur` rerun of a folder skips, compared with this run's settings: those
whose record names other settings (method, weights, PSF, modality, --focus-below) counted and
said in one line, a weights or PSF file replaced in place under the same name among them (its
sha256 is not the one the record holds); those that hold no record of their settings (an older
release's, another program's) counted in one line too, as not compared; those this user
cannot read (another user's, made under a umask of 077) counted apart, as unreadable: they
had been said to hold no record, with --overwrite advised, which does not replace them
(``atomic_write.not_yours``). Of the others, those --overwrite keeps (another user's this one
may not replace, this user's read-only ones) are told apart where --overwrite is advised.
Moved out of ``cli_batch`` (600 lines)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .cli_batch_lines import redo_words

#: skipped outputs whose records are read, at most (0.6-0.9 ms each from the page cache
#: here: a rerun that skips a million outputs is not held up by it)
CHECKED_AT_MOST = 1000
#: what a skipped output's record is compared on: the method spec's fields as given (names,
#: not what 'auto' became), with the words a warning names them by
COMPARED = {"name": "method", "weights": "weights", "psf": "PSF", "modality": "modality"}
#: hex digits of a sha256 a warning shows (as `microdeblur info` does)
SHA_SHOWN = 12


def requested(args) -> dict:
    """This run's settings that an existing output's record is compared with (``COMPARED``,
    and --focus-below: a number, 'auto' or None), as ``provenance.spec_dict`` records them."""
    from .cli import method_specs
    from .core.provenance import spec_dict

    spec = method_specs(args)[0]
    given = spec_dict(spec, psf_given_once(spec)) if spec is not None else {}
    return {**{key: (given or {}).get(key) for key in COMPARED},
            "focus_below": getattr(args, "focus_below", None)}


#: (the method spec, its ``provenance.psf_given``) of the run last asked: a PSF file is hashed
#: once a run (``requested`` and ``StaleOutputs.psf_pair`` both need it; ``method_specs`` keeps
#: one spec object a command, so a later run, its file replaced in place, hashes anew)
_psf_given_last: tuple | None = None


def psf_given_once(spec) -> dict:
    """``provenance.psf_given(spec)``, worked out once for the spec object ``spec``."""
    global _psf_given_last
    if _psf_given_last is None or _psf_given_last[0] is not spec:
        from .core.provenance import psf_given

        _psf_given_last = (spec, psf_given(spec))
    return _psf_given_last[1]


def output_record(path: Path) -> dict | None:
    """The record of how the existing output ``path`` was made, from its header only (no
    pixel is read); None where it holds none or cannot be read (not compared then)."""
    from .core.batch_outputs import header_record

    return header_record(path)


def recorded_settings(record: dict) -> dict | None:
    """A record's settings in ``requested``'s terms; None where it names none (a record of an
    older version, another program's). A record naming weights but no method spec (a napari
    layer deblurred by a network of the session, saved by a release before the Deblur dock
    recorded one) gives its weights only: the others are not compared. A record of a part of
    an image (``part_of_image``) gives that part alone: no run of `deblur` makes it."""
    if part := part_of_image(record):
        return {"part": part}
    spec = record.get("method_spec")
    if not isinstance(spec, dict):
        weights = record.get("weights_source")
        if not (isinstance(weights, str) and weights and record.get("weights_sha256")):
            return None
        from .core.export import weights_file_of

        return {"weights": weights_file_of(weights), "focus_below": focus_below(record)}
    return {**{key: spec.get(key) for key in COMPARED}, "focus_below": focus_below(record)}


def part_of_image(record: dict) -> str | None:
    """What part of its input a dock result's record says it is ('current slice', 'visible
    field of view', 'held-out band Y 0-29' of a Fine-tune Compare layer); None for a whole
    image (a current slice of a YX layer is all of it). Saved under an output's name it had
    passed for the whole input deblurred."""
    from .cli_info_rerun import PART_SCOPES

    if record.get("finetune_comparison"):
        return f"Fine-tune Compare's {record['finetune_comparison']}"
    scope = record.get("scope")
    if scope not in PART_SCOPES:
        return None
    layer_axes = str(record.get("axes") or "").replace("S", "")
    return None if scope == "current slice" and layer_axes == "YX" else str(scope)


def focus_below(record: dict):
    """The --focus-below a record's run was given: a number, 'auto' or None (none)."""
    focus = record.get("focus") if isinstance(record.get("focus"), dict) else {}
    if "mode" not in focus:  # none, or a watch's: the whole file deblurred
        return None
    return "auto" if "auto" in str(focus.get("threshold_from")) else focus.get("threshold")


def same_setting(key: str, theirs, ours) -> bool:
    """An optics PSF completed from the file's calibration ('widefield:...,pixel=0.1') is the
    one given without it."""
    if theirs == ours:
        return True
    if key == "psf" and isinstance(theirs, str) and isinstance(ours, str):
        parts = [side.split(";") for side in (theirs, ours)]  # one PSF per channel: each
        return (len(parts[0]) == len(parts[1])
                and all(completed(*pair) for pair in zip(*parts)))
    if key == "focus_below" and None not in (theirs, ours) and "auto" not in (theirs, ours):
        return float(theirs) == float(ours)
    return False


def completed(theirs: str, ours: str) -> bool:
    """Whether the PSF part ``theirs`` (a record's) is ``ours`` as a run completes it from the
    file's calibration: the same, or with the pixel= and dz= it lacked added
    (``psf.with_calibration``)."""
    from .core.psf import calibration_gaps

    if theirs == ours:
        return True
    base = ours.strip().rstrip(",")
    added = theirs[len(base) + 1:].split(",") if theirs.startswith(base + ",") else []
    gaps = calibration_gaps(ours)
    return bool(added) and all(item.partition("=")[0] in gaps for item in added)


def setting_words(key: str, value) -> str:
    if key == "part":  # this run's: None, the whole of each input
        return f"a part of the image ({value})" if value else "the whole image"
    if key == "focus_below":
        return "whole file (no --focus-below)" if value is None else f"--focus-below {value}"
    return f"{COMPARED[key]} {value if value is not None else 'not given'}"


def header_holds_record(path) -> bool:
    """Whether ``path`` is a file whose header ``output_record`` reads (a TIFF or a PNG): a
    Zarr output's record is not read for the skip check, so it is not said to hold none."""
    from .core import io, io_write

    return Path(path).is_file() and (io.is_tiff(path) or io_write.is_png(path))


@dataclass
class StaleOutputs:
    """Skipped outputs whose record says they were made with other settings than this run
    asks for: counted, the first one described, said in one line before the closing one
    (skipped, they had passed for this run's: `--method wiener` over the default's outputs
    said '59 skipped' and nothing else). Weights and PSF files are compared by content where
    both sides have it: each file given hashed once a run, as its record holds it, where a
    record to compare it with holds a ``weights_sha256`` or ``psf_sha256`` (a file replaced in
    place, same name, had passed as the same; the same file under another name is the same).
    Skipped outputs holding no record of their settings are counted apart (``unrecorded``)."""

    count: int = 0
    first: str | None = None
    read: int = 0  # records read: up to ``at_most``
    #: records read at most (``CHECKED_AT_MOST``, as ``cli_batch`` has it when the batch begins)
    at_most: int = CHECKED_AT_MOST
    #: the batch's inputs left out as earlier outputs (``folder_pairs``): their records, read
    #: before the work, not read again here
    earlier: object = None
    #: this run's method spec, the weights file it was given (None: none), and their sha256s
    #: once hashed ('' where one could not be read: compared by name then; the PSF's a list,
    #: one per channel's part, '' for a part that is no file)
    spec: object = None
    weights_file: str | None = None
    weights_sha: str | None = None
    psf_shas: list | None = None
    #: skipped outputs among those read that hold no record of their settings, and the first
    unrecorded: int = 0
    first_unrecorded: str | None = None
    #: skipped outputs among those read that this user cannot read (another user's), the first
    unreadable: int = 0
    first_unreadable: str | None = None
    #: of the ``count`` and the ``unrecorded``, those --overwrite keeps (another user's this
    #: one may not replace, this user's read-only ones): ``cli_batch_lines.kept_count``'s
    kept_differing: dict = field(default_factory=dict)
    kept_unrecorded: dict = field(default_factory=dict)

    def begin(self, args, at_most: int) -> None:
        """This run's weights and PSF files (hashed only where a record is compared with them),
        the earlier outputs' records already read, and how many records to read."""
        from .cli import method_specs

        self.at_most = at_most
        self.earlier = getattr(args, "earlier_outputs", None)
        self.spec = method_specs(args)[0]
        self.weights_file = getattr(self.spec, "weights", None)

    def reader(self, target):
        """What reads ``target``'s record (``ChangedInputs`` reads one past the first
        ``at_most`` only where the input was modified after the output)."""
        if self.earlier is not None:
            return lambda: self.earlier.record(target)
        return lambda: output_record(Path(target))

    def record(self, target) -> dict | None:
        """``target``'s record, read for the first ``at_most`` skipped outputs; None past
        them, or where it holds none."""
        if self.read >= self.at_most:
            return None
        self.read += 1
        return self.reader(target)()

    def compared(self, source, target, request: dict, changed, name: str) -> dict:
        """The --json fields of the skipped output ``target`` of ``source``: the settings its
        record differs from ``request`` in (``settings_differ``), that its input changed since
        (``input_changed``, ``changed``: the batch's ``ChangedInputs``; ``name``: the input as
        lines name it). One read that holds no record of its settings is counted (its --json
        line as before: scripts read a fixed set of keys)."""
        unread = self.read >= self.at_most
        made = self.record(target)  # None past the first ``at_most``
        fields = {}
        if differ := self.check(target, request, made):
            fields["settings_differ"] = differ
        elif not unread:
            self.count_unrecorded(target, made)
        read = self.reader(target) if unread else None
        if changed.check(source, target, made, read, name):
            fields["input_changed"] = True
        return fields

    def count_unrecorded(self, target, record) -> None:
        """The skipped ``target``, its record read, counted where it holds none naming its
        settings (they are not compared)."""
        if isinstance(record, dict) and recorded_settings(record) is not None:
            return
        if record is None and not header_holds_record(target):
            return  # a Zarr store: its record is not read here
        if record is None and not os.access(target, os.R_OK):  # another user's, say
            self.unreadable += 1
            self.first_unreadable = self.first_unreadable or Path(target).name
            return
        self.unrecorded += 1
        self.first_unrecorded = self.first_unrecorded or Path(target).name
        count_kept(self.kept_unrecorded, target)

    def check(self, target, request: dict, record: dict | None) -> list[str]:
        """The settings ``target``'s ``record`` differs from ``request`` in (method, weights,
        psf, modality, focus_below); [] where it does not, or names none (those a record
        names: ``recorded_settings``)."""
        theirs = recorded_settings(record) if isinstance(record, dict) else None
        if theirs is None:
            return []
        shas = {"weights": self.weights_shas(record, request), "psf": self.psf_pair(record)}
        differ = [k for k in request if k in theirs
                  and not self.same(k, theirs.get(k), request[k], shas.get(k))]
        differ += ["part"] if "part" in theirs else []
        if differ:
            self.count += 1
            count_kept(self.kept_differing, target)
            if self.first is None:
                self.first = f"{Path(target).name}: " + ", ".join(
                    differ_words(k, theirs.get(k), request.get(k), shas.get(k)) for k in differ)
        return [{"name": "method"}.get(k, k) for k in differ]  # --json: the options' names

    @staticmethod
    def same(key: str, theirs, ours, shas: tuple | None) -> bool:
        """One setting compared: a file by its content where both sha256s are known (each
        channel's PSF file, a part that is no file by its name), else by name."""
        if not shas:
            return same_setting(key, theirs, ours)
        if key == "weights" or len(shas[0]) == len(shas[1]) == 1:
            return shas[0] == shas[1]
        names = [str(side).split(";") for side in (theirs, ours)]
        if not len(shas[0]) == len(shas[1]) == len(names[0]) == len(names[1]):
            return same_setting(key, theirs, ours)
        return all(a == b if a and b else same_setting(key, *pair)
                   for a, b, pair in zip(*shas, zip(*names)))

    def weights_shas(self, record: dict, request: dict) -> tuple | None:
        """(the record's weights sha256, this run's weights file's), where both are known:
        weights are compared by content then; None: by name."""
        theirs = record.get("weights_sha256")
        if request.get("weights") is None or not isinstance(theirs, str) or not theirs:
            return None
        ours = self.weights_digest()
        return (theirs, ours) if ours else None

    def weights_digest(self) -> str:
        """sha256 of this run's weights file as loading records it (a BioImage.IO package's:
        its attached checkpoint's), hashed the first time it is asked for ('' where there is
        none or it cannot be read)."""
        if self.weights_sha is None:
            from .core.export import loaded_weights_sha256

            try:
                self.weights_sha = (loaded_weights_sha256(self.weights_file)
                                    if self.weights_file else "")
            except (OSError, ValueError):  # gone since the run began, a damaged zip: by name
                self.weights_sha = ""
        return self.weights_sha

    def psf_pair(self, record: dict) -> tuple | None:
        """(the record's PSF sha256s, this run's PSF files'), where both name a file's: PSFs
        are compared by content then; None: by name."""
        theirs = sha_list(record.get("psf_sha256"))
        if not any(theirs):
            return None
        if self.psf_shas is None:  # hashed as the record's were, once: ``requested``'s
            given = psf_given_once(self.spec) if self.spec is not None else {}
            self.psf_shas = sha_list(given.get("psf_sha256"))
        return (theirs, self.psf_shas) if any(self.psf_shas) else None

    def say(self) -> None:
        of = (f" (of the first {self.at_most} skipped, whose records were read)"
              if self.read >= self.at_most else "")
        if self.count:
            print(f"microdeblur: warning: {self.count} skipped output"
                  f"{'s were' if self.count > 1 else ' was'} made with other settings than "
                  f"this run's{of} ({self.first}"
                  f"{'; and others' if self.count > 1 else ''})"
                  f"{redo_words(self.count, self.kept_differing, 'pass')}", file=sys.stderr,
                  flush=True)
        if self.unrecorded:
            many = self.unrecorded > 1
            print(f"microdeblur: warning: {self.unrecorded} skipped output"
                  f"{'s hold' if many else ' holds'} no record of {'their' if many else 'its'} "
                  f"settings{of} ({self.first_unrecorded}{' and others' if many else ''}: made "
                  "by a release before records, or by another program), so "
                  f"{'they were' if many else 'it was'} not compared with this run's"
                  f"{redo_words(self.unrecorded, self.kept_unrecorded, 'pass')}", file=sys.stderr,
                  flush=True)
        if self.unreadable:
            print(unreadable_warning(self.unreadable, self.first_unreadable, of),
                  file=sys.stderr, flush=True)


def count_kept(kept: dict, target) -> None:
    """``target`` counted in ``kept`` where --overwrite would keep it (``kept_reason``: one
    lstat of a file of this user's, for the records read only)."""
    from .core.atomic_write import kept_reason

    if (reason := kept_reason(target)) is not None:
        kept[reason] = kept.get(reason, 0) + 1


def unreadable_warning(count: int, first: str | None, of: str) -> str:
    """The line for skipped outputs this user cannot read (another user's): their settings not
    compared, and no --overwrite advised (it keeps a file of another user's this one cannot
    write, ``atomic_write.not_yours``)."""
    one = count == 1
    return (f"microdeblur: warning: {count} skipped output{' is' if one else 's are'} not "
            f"readable by you{of} ({first}{'' if one else ' and others'}: another user's made "
            f"under a umask such as 077, or a mode that denies reading), so "
            f"{'its' if one else 'their'} settings were not compared with this run's; "
            f"{'it is' if one else 'they are'} kept (--overwrite does "
            "not replace another user's file you cannot write): ask its owner to make it "
            "group-readable (chmod g+r), or deblur into another folder")


def differ_words(key: str, theirs, ours, shas: tuple | None) -> str:
    """One setting an output's record differs in: "PSF gaussian:1 (this run: PSF
    gaussian:2)"; a file (weights, PSF) of one name but other content with their sha256s."""
    if shas and theirs == ours:
        what = COMPARED[key]
        return (f"{what} {theirs}, sha256 {shown_sha(shas[0])} (this run: {ours}, sha256 "
                f"{shown_sha(shas[1])}: same name, other {what})")
    return f"{setting_words(key, theirs)} (this run: {setting_words(key, ours)})"


def sha_list(value) -> list[str]:
    """A record's ``psf_sha256`` as a list in channel order ('': a part that is no file)."""
    value = [value] if isinstance(value, str) else value
    return [v if isinstance(v, str) else "" for v in value] if isinstance(value, list) else []


def shown_sha(sha) -> str:
    """A sha256 as a warning shows it; one per channel's PSF joined by ';' ('-': no file)."""
    if isinstance(sha, str):
        return sha[:SHA_SHOWN]
    return ";".join(s[:SHA_SHOWN] if s else "-" for s in sha)
