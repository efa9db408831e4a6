"""The core's messages in the words of the command line.

The core names its Python arguments (``tile=8``, ``weights='w.pth'``), as its Python users
write them; a `microdeblur` user typed options (``--tile 8``). Every error line the command
line prints goes through :func:`in_cli_words` with the options of the command that ran, so
the translation lives here only and the core keeps its own spelling.
"""

from __future__ import annotations

import re
from pathlib import Path

from .core.shown import first_line, shown_path

#: Python argument -> the dest of the option that sets it, where their names differ
ALIASES = {
    "batch_size": "batch",  # train/finetune's --batch (deblur's --batch-size is batch_size)
    "min_gain_db": "min_gain",
    "resume_from": "checkpoint_dir",
    "discriminator": "discriminator_config",
}

#: one-word arguments the core's messages open a clause with ('tile 20 is not larger than
#: ...', 'psf has shape ...'): English has 'tile' too, so only these, and only before a verb
SUBJECTS = ("psf", "tile", "overlap", "axes", "iterations", "balance", "method", "device",
            "modality", "precision", "window", "percentile", "border", "weights")
_SUBJECT_VERBS = r"(?:is|are|has|have|of shape|must|spec|array|holds|sums|do|does|needs|gives)"
# 'tile=' and, without '=', a name with an underscore ('noise_scale applies to ...'), which
# no English word has; not a method ('.state_dict', 'export_psf(') or a path ('a_b.tif');
# a SUBJECTS word opening a clause; an argument the user is told to give ('give psf a path')
# a flag's 'overwrite=True' is the option alone ('--overwrite', not '--overwrite True')
_ARGUMENT = re.compile(r"(?<![\w.-])([a-z][a-z0-9_]*)=(?:True\b)?|"
                       r"(?<![\w./-])([a-z][a-z0-9]*_[a-z0-9_]*[a-z0-9])(?![\w(=/-]|\.\w)|"
                       rf"(?:^|(?<=: )|(?<=; ))({'|'.join(SUBJECTS)})"
                       rf"(?= {_SUBJECT_VERBS}\b| ['\"(\d])|"
                       r"(?<=\bgive )([a-z][a-z0-9]*)(?=[ ,;:)]|$)(?! of\b)")
#: arguments a --no-X flag sets (dest no_X): 'augment=False' is '--no-augment'
_NEGATED = re.compile(r"(?<![\w.-])(augment)=(True|False)\b")
# a quoted value (a path, the user's own text) is left as it is, even if it holds 'tile='
_QUOTED = re.compile(r"(?<!\w)'[^']*'|(?<!\w)\"[^\"]*\"")
#: a setting in the words the dock and Python share ('set the output dtype to float32',
#: ``core.output_cast.KEEP``) -> the dest of the option that sets it
_SETTINGS = {"output dtype": "output_dtype"}
_SET_TO = re.compile(rf"\bset the ({'|'.join(_SETTINGS)}) to (\w+)")


def settings_in_cli_words(text: str, options: dict[str, str]) -> str:
    """``text`` with 'set the output dtype to float32' as 'give --output-dtype float32' where
    ``options`` (dest -> the option) has it: the CLI's clipping warning named no option."""

    def option(match: re.Match) -> str:
        given = options.get(_SETTINGS[match.group(1)])
        return match.group(0) if given is None else f"give {given} {match.group(2)}"

    return _SET_TO.sub(option, text)


def in_cli_words(text: str, options: dict[str, str]) -> str:
    """``text`` with each ``name=`` of a Python argument that one of ``options`` (dest -> the
    option, e.g. ``{"tile": "--tile"}``) sets written as that option, and each bare such name
    that has an underscore (``noise_scale``), opens a clause (``SUBJECTS``) or follows
    'give'; a setting named in the dock's words as its option (``settings_in_cli_words``)."""
    text = settings_in_cli_words(text, options)
    if any(options.get(f"no_{m.group(1)}") for m in _NEGATED.finditer(text)):
        text = _NEGATED.sub(lambda m: (options[f"no_{m.group(1)}"] if m.group(2) == "False"
                                       else f"without {options[f'no_{m.group(1)}']}"), text)
    quoted = [m.span() for m in _QUOTED.finditer(text)]

    def option(match: re.Match) -> str:
        name = next(g for g in match.groups() if g)
        given = options.get(name) or options.get(ALIASES.get(name, ""))
        if given is None or any(a <= match.start() < b for a, b in quoted):
            return match.group(0)
        if not match.group(1):  # a bare name: the option as it is
            return given
        after = text[match.end() : match.end() + 1]
        # 'tile=8' -> '--tile 8', but 'give psf= an array' -> 'give --psf an array'
        return given if after in ("", " ", ",", ";", ":", ")") else f"{given} "

    return _ARGUMENT.sub(option, text)


#: weights finetune and train's --weights accept besides a state dict of an architecture
ACCEPTED_WEIGHTS = ("a .safetensors file written by microdeblur train or finetune, a bundled "
                    "name such as gran.fluo_v1 (microdeblur methods lists them) or a BioImage "
                    "Model Zoo .zip it exported")
#: the same for deblur and watch, whose --weights refuses a bundled name (it is the method)
ACCEPTED_FILES = ("a .safetensors file written by microdeblur train or finetune or a "
                  "BioImage Model Zoo .zip it exported (a bundled network such as gran.fluo_v1 "
                  "is given as --method; microdeblur methods lists them)")


def accepted_weights(command: str) -> str:
    """What ``command``'s --weights accepts besides a state dict (``ACCEPTED_*``)."""
    return ACCEPTED_FILES if command in ("deblur", "watch") else ACCEPTED_WEIGHTS
#: the option that names the architecture of a plain state dict, per command
ARCH_OPTION = {"deblur": "--method", "watch": "--method", "train": "--arch"}


def error_words(error: BaseException, args) -> str:
    """The line an error prints in the command line's words (``in_cli_words``); weights that
    name no architecture are said in the terms of the command that read them."""
    import sys

    checkpoint = sys.modules.get("napari_microdeblur.core.checkpoint")  # loaded if it raised
    weights = getattr(args, "weights", None)
    if (checkpoint is not None and weights
            and isinstance(error, checkpoint.ArchitectureUnknownError)):
        return _no_architecture(error, args.command, weights)
    return in_cli_words(_given_weights(_given_reference(error, args), weights),
                        args.cli_options)


def _given_reference(error: BaseException, args) -> str:
    """``error``'s words, naming --reference where they say the reference file is missing:
    evaluate's 'input file 'x.tif' does not exist' named no option, and the user could not
    tell the prediction's from the reference's."""
    reference = getattr(args, "reference", None)
    if not reference or not isinstance(error, FileNotFoundError):
        return str(error)
    text = str(error)
    # as typed or as the reader shows it ('./x.tif' is said 'x.tif')
    said = {f"input file {shown_path(form)} does not exist" for form in (reference,
                                                                         Path(reference))}
    return f"--reference: {text}" if any(text.startswith(s) for s in said) else text


def _given_weights(text: str, weights) -> str:
    """``text`` with the core's "method 'w.zip' takes ..." (a network from a weights file is
    named by the file) as "weights 'w.zip' ...": the user gave --weights, not --method
    'w.zip'. Not "method='x'", which tells the user what to give as the method."""
    if not weights:
        return text
    from pathlib import Path

    name = repr(Path(str(weights)).name)
    return re.sub(rf"(?<![\w-])method (?={re.escape(name)})", "weights ", text)


def _no_architecture(error, command: str, weights: str) -> str:
    option = ARCH_OPTION.get(command)
    if not error.like:  # a VGG, a classifier: --method would not help
        plain = f", or a state dict of one of its networks with {option} ARCH" if option else ""
        return (f"--weights {shown_path(weights)} is not a microdeblur network: it holds "
                f"{error.holds}; accepted: {accepted_weights(command)}{plain}")
    arch = error.like[0]
    if option:  # train reads it as --arch when that is its architecture
        return (f"--weights {shown_path(weights)} has no model card naming its architecture; "
                f"it holds {error.holds}: give {option} {arch} (its paper configuration is "
                "assumed)")
    return (f"--weights {shown_path(weights)} has no model card naming its architecture and "
            f"configuration; it holds {error.holds}; {command} takes {accepted_weights(command)} "
            f"(microdeblur train --arch {arch} --weights FILE starts from it in the paper's "
            "configuration)")


def memory_words(error, args) -> str | None:
    """One line for a RuntimeError or MemoryError (or a worker's message) that says memory
    ran out, naming the options of the command that make a run smaller: --device cpu only
    where an accelerator's memory ran out (``_accelerator_ran_out``); None otherwise."""
    import torch

    from .core.tiling import says_out_of_memory  # torch's words, the retry's list (no second)

    if isinstance(error, BaseException) and not isinstance(error, (RuntimeError, MemoryError)):
        return None  # the core's own ValueErrors already say what to change
    if not (isinstance(error, (torch.cuda.OutOfMemoryError, MemoryError))
            or says_out_of_memory(str(error))):
        return None
    first = first_line(error)
    options = getattr(args, "cli_options", {})
    smaller = " or ".join(options[d] for d in ("tile", "batch_size", "batch") if d in options)
    hints = [f"a smaller {smaller}"] if smaller else []
    # not on the CPU, nor out of the host's memory: the CPU is no change there
    if "device" in options and _accelerator_ran_out(error, args):
        hints.append(f"{options['device']} cpu")
    advice = f"; try {' or '.join(hints)}" if hints else ""
    return f"out of memory ({first}){advice}"


#: what only an accelerator's allocator says: CUDA's, ROCm's (HIP) and Apple's (MPS)
_ACCELERATOR_WORDS = re.compile(r"\b(?:cuda|hip|mps)\b", re.IGNORECASE)
#: what the host's says: torch's CPU allocator (``tiling.OUT_OF_MEMORY_WORDS``)
_HOST_WORDS = "defaultcpuallocator"


def _accelerator_ran_out(error, args) -> bool:
    """Whether the memory that ran out was a GPU's (so the CPU may hold the run): said by the
    error (CUDA's or MPS's words; the host's: torch's CPU allocator, numpy's MemoryError),
    else by the device ``args.device`` names or resolves to ('auto': the CPU where no GPU is;
    a cluster's workers resolve it themselves: unknown there, so not said)."""
    import torch

    text = str(error)
    if isinstance(error, MemoryError) or _HOST_WORDS in text.lower():
        return False
    if isinstance(error, torch.cuda.OutOfMemoryError) or _ACCELERATOR_WORDS.search(text):
        return True
    name = str(getattr(args, "device", None)).strip().lower()
    if name != "auto":  # 'cuda:1' ran on a GPU; None: no device to tell
        return name not in ("none", "") and not name.startswith("cpu")
    if getattr(args, "scheduler", None):
        return False
    from .core.devices import resolve_device

    return resolve_device("auto").type != "cpu"
