"""README commands of 2026-12-08: what a reader copies from README.md is accepted as written.

Every `microdeblur SUBCOMMAND ...` of a fenced shell block (continuation lines joined) is parsed
by the CLI's own parser (``cli.build_parser``, as ``cli.main`` builds it; parsed, never run),
and the methods, weights, architectures, PSF models and JSON configs it names exist. The
complete `microdeblur ...` spans of the prose parse too (placeholders such as IMAGE filled in,
fragments such as `microdeblur finetune --self` allowed to stop short). Every `--option` the
prose names exists on some subcommand, or on the benchmark or script its section names. The
```python blocks compile, import names that exist and call them with arguments their
signatures take (nothing is run). test_readme_walk_2026_12_06 checks the options of each
command line per subcommand and the defaults; this file parses whole commands.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import functools
import importlib
import inspect
import io
import json
import re
import shlex
from pathlib import Path

import pytest
from pydantic import ValidationError

from napari_microdeblur.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SHELL = {"", "bash", "sh", "shell", "console"}

#: Commands (the words after `microdeblur`, joined by spaces) that README.md shows in a form
#: the parser refuses on purpose, each with why. None does now: add one only where the README
#: is right (a command that shows an error, say) and the extraction cannot tell.
KNOWN_EXCEPTIONS: dict[str, str] = {}

# a README placeholder (IMAGE, IN_DIR, OUT.tif), not an axes string such as ZYX or CYX
PLACEHOLDER = re.compile(r"(?![TCZYXS]+\b)[A-Z][A-Z0-9_]*(\.[a-z.]+)?")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9]")
SCRIPT = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w-]+\.py)\b")
EXTERNAL = ("pip ", "python -m pip", "conda ", "git ", "uv ", "apt-get ")  # not our options


def fenced_blocks(text: str) -> list[tuple[str, list[tuple[int, str]]]]:
    """(language, [(line number, line)]) of every fenced block."""
    blocks, current, language = [], None, ""
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            if current is None:
                language, current = line.strip()[3:].strip().lower(), []
            else:
                blocks.append((language, current))
                current = None
        elif current is not None:
            current.append((number, line))
    return blocks


def _logical_lines(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Shell lines with their backslash continuations joined, at the first line's number."""
    joined, start, parts = [], None, []
    for number, line in lines:
        start = number if start is None else start
        if line.rstrip().endswith("\\"):
            parts.append(line.rstrip()[:-1])
            continue
        joined.append((start, " ".join(parts + [line])))
        start, parts = None, []
    if parts:
        joined.append((start, " ".join(parts)))
    return joined


def _segments(line: str) -> list[list[str]]:
    """The simple commands of a shell line (split at && || ; |), comments dropped, a prompt
    and leading VAR=value assignments removed."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    segments, words = [], []
    for token in lexer:
        if token in ("&&", "||", ";", "|", "&"):
            segments.append(words)
            words = []
        else:
            words.append(token)
    segments.append(words)
    for words in segments:
        while words and (words[0] == "$" or re.fullmatch(r"\w+=\S*", words[0])):
            words.pop(0)
    return [w for w in segments if w]


def shell_commands(text: str) -> list[tuple[int, list[str], dict[str, dict]]]:
    """(line, argv after `microdeblur`, JSON files the block writes with `echo '...' > F`)
    for every microdeblur command in a fenced shell block."""
    found = []
    for language, lines in fenced_blocks(text):
        if language not in SHELL:
            continue
        commands, files = [], {}
        for number, line in _logical_lines(lines):
            for words in _segments(line):
                if words[0] == "microdeblur":
                    commands.append((number, words[1:]))
                elif words[0] == "echo" and len(words) == 4 and words[2] == ">":
                    with contextlib.suppress(ValueError):
                        files[words[3]] = json.loads(words[1])
        found += [(number, argv, files) for number, argv in commands]
    return found


@functools.lru_cache(maxsize=1)
def _parser() -> argparse.ArgumentParser:
    return build_parser()  # as cli.main builds it; parse_args leaves it as it was


def parse(argv: list[str]) -> tuple[argparse.Namespace | None, str]:
    """The namespace the CLI's parser makes of ``argv``, or None and its error line. An
    abbreviated option (argparse takes `--out` for `--output`) is refused here: the README
    spells options in full, so that a new option sharing the prefix cannot break it."""
    short = [w for w in argv if w.startswith("--") and w.split("=")[0] not in _all_cli_options()]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            args = _parser().parse_args(argv)
    except SystemExit as stop:  # --help and --version stop with status 0
        return (None, err.getvalue().strip() or f"exit status {stop.code}") if stop.code else (
            argparse.Namespace(), "")
    return (None, f"{short[0]} is not an option's full name") if short else (args, "")


@functools.lru_cache(maxsize=1)
def _known_names() -> tuple[set[str], set[str]]:
    from napari_microdeblur.core.catalog import list_methods
    from napari_microdeblur.core.registry import list_archs

    return {e.name for e in list_methods()} | {"auto"}, set(list_archs())


def _psf_problem(spec: str) -> str | None:
    """What is wrong with a PSF model spec ('gaussian:1.6', 'astig:...', 'widefield:na=...',
    one per channel split at ';'); files and 'estimate' are not looked at."""
    from napari_microdeblur.core.psf import optics_arguments, parse_psf

    for part in spec.split(";"):
        kind, sep, rest = part.strip().partition(":")
        try:
            if sep and kind in ("gaussian", "disk", "astig"):
                parse_psf(part)
            elif sep and kind in ("widefield", "confocal"):
                optics_arguments(kind, rest, part)  # the keys only: no optics computed
        except ValueError as error:
            return str(error)
    return None


def _config_problems(args, files: dict[str, dict]) -> list[str]:
    """The JSON configs the block writes, against the fields they configure."""
    from napari_microdeblur.core.registry import get_arch

    problems = []
    config = files.get(getattr(args, "config", None) or "")
    if config is not None and args.arch in _known_names()[1]:
        try:
            get_arch(args.arch).config_cls(**config)
        except ValidationError as error:
            problems.append(f"--config {args.config}: " + "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()))
    disc = files.get(getattr(args, "discriminator_config", None) or "")
    if disc is not None and args.regime == "psf_cyclegan":
        # the discriminator that regime builds (training.regimes.cycle.build_discriminator),
        # whose **patch_options are PatchDiscriminator's (training.setup.discriminator_fields
        # finds the same, but importing the training stack would double this file's time)
        from napari_microdeblur.core.archs import psf_cyclegan as arch

        fields = {name for cls in (arch.MultiScalePatchDiscriminator, arch.PatchDiscriminator)
                  for name in inspect.signature(cls).parameters}
        unknown = set(disc) - fields
        if unknown:
            problems.append(f"--discriminator-config {args.discriminator_config}: {unknown}")
    return problems


def name_problems(args, files: dict[str, dict]) -> list[str]:
    """Names a parsed command gives that no method, weights, architecture or PSF model has."""
    methods, archs = _known_names()
    problems = []
    if getattr(args, "method", None) not in methods | {None}:
        problems.append(f"--method {args.method}: no such method")
    weights = getattr(args, "weights", None)
    is_file = weights and (re.search(r"[/\\]|\.(safetensors|pt|pth|zip)$", weights))
    if weights and not is_file and weights not in methods:
        problems.append(f"--weights {weights}: no bundled weights of that name")
    if getattr(args, "arch", None) not in archs | {None}:
        problems.append(f"--arch {args.arch}: no such architecture")
    psf = getattr(args, "psf", None)
    if isinstance(psf, str) and _psf_problem(psf):
        problems.append(f"--psf {psf}: {_psf_problem(psf)}")
    return problems + _config_problems(args, files)


def command_problems(text: str) -> list[str]:
    """'line N: microdeblur ...: what is wrong' for each fenced command that fails."""
    problems = []
    for number, argv, files in shell_commands(text):
        shown = " ".join(argv)
        if shown in KNOWN_EXCEPTIONS:
            continue
        args, error = parse(argv)
        words = [error] if args is None else name_problems(args, files)
        problems += [f"line {number}: microdeblur {shown}: {w}" for w in words]
    return problems


def _prose(text: str) -> str:
    """The text outside fenced blocks, same line numbers."""
    return re.sub(r"^[ \t]*```.*?^[ \t]*```", lambda m: "\n" * m.group(0).count("\n"), text,
                  flags=re.S | re.M)


def inline_command_problems(text: str) -> tuple[int, list[str]]:
    """(how many were parsed, problems) for the `microdeblur SUB ...` spans of the prose."""
    prose, checked, problems = _prose(text), 0, []
    for match in re.finditer(r"`(microdeblur [^`]+)`", prose):
        words = None
        with contextlib.suppress(ValueError):  # unbalanced quotes: not a command
            words = shlex.split(" ".join(match.group(1).split()))[1:]
        if words is None or any(re.search(r"\.\.\.|[\[\]()|]", w) for w in words):
            continue  # a synopsis such as `focus IMAGE [--axes ZYX]`, not a command
        argv = ["1" if PLACEHOLDER.fullmatch(w) else w for w in words]
        checked += 1
        args, error = parse(argv)
        # a fragment stops short: `microdeblur watch`, `microdeblur finetune --self`
        short = re.search(r"arguments are required|argument (\S+): expected one argument",
                          error)
        if short and (not short.group(1) or argv[-1] in short.group(1).split("/")):
            continue
        number = prose.count("\n", 0, match.start()) + 1
        words = [error] if args is None else name_problems(args, {})
        problems += [f"line {number}: {match.group(1)}: {w}" for w in words]
    return checked, problems


@functools.lru_cache(maxsize=1)
def _all_cli_options() -> frozenset[str]:
    parser = _parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return frozenset(s for p in [parser, *subs.choices.values()] for a in p._actions
                     for s in a.option_strings)


def _script_has(name: str, option: str) -> bool:
    for base in (ROOT, ROOT / "benchmarks", ROOT / "scripts"):
        if (base / name).is_file():
            source = (base / name).read_text(encoding="utf-8")
            return f'"{option}"' in source or f"'{option}'" in source
    return False


def _script_before(prose: str, position: int) -> str | None:
    """The benchmark or script the section names last before ``position``, if any."""
    heading = max(prose.rfind("\n#", 0, position), 0)
    scripts = SCRIPT.findall(prose, heading, position)
    return scripts[-1] if scripts else None


def prose_option_problems(text: str) -> list[str]:
    """'line N: --option' for each option of the prose that no subcommand has and, where the
    section names a benchmark or script before it (the nearest), that script has not either."""
    prose, options, problems = _prose(text), _all_cli_options(), []
    spans = [(m.start(), m.end(), m.group(1)) for m in re.finditer(r"`([^`]+)`", prose)]
    for match in OPTION.finditer(prose):
        option = match.group(0)
        if option in options:
            continue
        span = next((s for a, b, s in spans if a < match.start() < b), "")
        if " ".join(span.split()).startswith(EXTERNAL):
            continue
        script = _script_before(prose, match.start())
        if script and _script_has(script, option):
            continue
        number = prose.count("\n", 0, match.start()) + 1
        problems.append(f"line {number}: {option} (exists on no subcommand"
                        + (f" and not in {script})" if script else ")"))
    return problems


def _value_problem(actions: list[argparse.Action], value: str) -> str | None:
    """None if some action takes ``value`` (or each of 'a|b|c'), else why not."""
    why = ""
    for action in actions:
        try:
            if action.nargs == 0:
                raise ValueError("takes no value")
            for one in value.split("|"):
                one = action.type(one) if action.type else one
                if action.choices is not None and one not in action.choices:
                    raise ValueError(f"accepted: {'|'.join(map(str, action.choices))}")
            return None
        except (ValueError, TypeError, argparse.ArgumentTypeError) as error:
            why = str(error)
    return why


def prose_value_problems(text: str) -> list[str]:
    """'line N: `--option VALUE`: why' for each span of the prose that starts with an option of
    the CLI and a value (or a|b|c list of them) that no subcommand with that option takes;
    placeholders (`--tile N`) and options of the section's benchmark or script are left out."""
    parser, prose, problems = _parser(), _prose(text), []
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    actions: dict[str, list[argparse.Action]] = {}
    for sub in subs.choices.values():
        for action in sub._actions:
            for option in action.option_strings:
                actions.setdefault(option, []).append(action)
    for match in re.finditer(r"`(--[a-z][\w-]*)[ =]([^`\s]+)", prose):
        option, value = match.groups()
        script = _script_before(prose, match.start())
        if (option not in actions or re.fullmatch(r"[A-Z][A-Z0-9_]*", value)  # `--tile N`
                or (script and _script_has(script, option))):
            continue
        why = _value_problem(actions[option], value)
        if why is not None:
            number = prose.count("\n", 0, match.start()) + 1
            problems.append(f"line {number}: {option} {value}: {why}")
    return problems


# keyword arguments a function passes on through **kwargs (as their docstrings say)
FORWARDS = {
    ("napari_microdeblur.core.inference", "deblur"): [("inference", "iter_deblur")],
    ("napari_microdeblur.core.inference", "iter_deblur"): [("inference", "split_options")],
    ("napari_microdeblur.core.selective", "deblur_selected"): [
        ("selective", "iter_deblur_selected"), ("inference", "split_options")],
    ("napari_microdeblur.core.selective", "iter_deblur_selected"): [
        ("inference", "split_options")],
}


def _keywords(module: str, name: str) -> set[str] | None:
    """The keywords ``module.name`` takes, following FORWARDS; None: any."""
    params = inspect.signature(getattr(importlib.import_module(module), name)).parameters
    names = {p.name for p in params.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return names
    if (module, name) not in FORWARDS:
        return None
    for short, target in FORWARDS[(module, name)]:
        more = _keywords(f"napari_microdeblur.core.{short}", target)
        if more is None:
            return None
        names |= more
    return names


def _snippet_problems(number: int, code: str) -> list[str]:
    tree = ast.parse(code, f"README.md:{number}")
    compile(tree, f"README.md:{number}", "exec")
    problems, imported = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("napari_microd"):
            try:
                module = importlib.import_module(node.module)
            except ImportError as error:
                problems.append(f"line {node.lineno + number - 1}: {error}")
                continue
            for alias in node.names:
                if not hasattr(module, alias.name):
                    problems.append(f"line {node.lineno + number - 1}: {node.module} has no "
                                    f"{alias.name}")
                else:
                    imported[alias.asname or alias.name] = (node.module, alias.name)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in imported):
            continue
        module, name = imported[node.func.id]
        given = {k.arg: None for k in node.keywords if k.arg}
        try:
            inspect.signature(getattr(importlib.import_module(module), name)).bind(
                *[None] * len(node.args), **given)
        except TypeError as error:
            problems.append(f"line {node.lineno + number - 1}: {name}(...): {error}")
            continue
        accepted = _keywords(module, name)
        if accepted is not None and set(given) - accepted:
            problems.append(f"line {node.lineno + number - 1}: {name}() takes no "
                            f"{sorted(set(given) - accepted)}")
    return problems


def python_problems(text: str) -> tuple[int, list[str]]:
    blocks = [(lines[0][0], "\n".join(line for _, line in lines))
              for language, lines in fenced_blocks(text) if language == "python" and lines]
    return len(blocks), [p for number, code in blocks for p in _snippet_problems(number, code)]


# ------------------------------------------------------------------------------ README.md


def test_every_fenced_microdeblur_command_parses_and_names_what_exists():
    commands = shell_commands(README)
    assert len(commands) >= 25  # the extraction found the README's commands
    # continuation lines joined: the PSF-CycleGAN command ends three lines below its start
    assert any("--export-psf" in argv and "--discriminator-config" in argv
               for _, argv, _ in commands)
    assert command_problems(README) == []


def test_known_exceptions_are_still_in_the_readme():
    shown = {" ".join(argv) for _, argv, _ in shell_commands(README)}
    assert set(KNOWN_EXCEPTIONS) - shown == set()


def test_complete_microdeblur_spans_of_the_prose_parse():
    checked, problems = inline_command_problems(README)
    assert checked >= 15
    assert problems == []


def test_every_option_the_prose_names_exists():
    assert prose_option_problems(README) == []


def test_values_the_prose_gives_options_are_accepted():
    assert prose_value_problems(README) == []


def test_python_blocks_import_and_call_what_exists():
    count, problems = python_problems(README)
    assert count >= 3
    assert problems == []


# ------------------------------------------------------------- the checks catch a drift

DRIFTED = """\
A tile of `--tile-size 64` (no such option); `microdeblur deblur IN -o OUT --precison fp16`.
Faster: `--precision bf16`, `--modality em|confocal`, `--tile N`, `--overlap 1O`, `--json 1`.

```bash
OMP_NUM_THREADS=1 microdeblur deblur a.tif -o b.tif --method wiener \\
  --psf astig:2.5,0.8 --balance 0.01   # astig takes three numbers
echo '{"base_channels": 16, "layers": 3}' > g.json
microdeblur train --arch gran --config g.json --out g.safetensors
microdeblur deblur a.tif --ouput b.tif && microdeblur deblur a.tif -o b.tif --method wienr
microdeblur finetune --weights gran.em_v9 --self a.tif --out t.safetensors
microdeblur deblur a.tif -o b.tif --method richardson_lucy --psf disk:3 --iter 20
```

```python
from napari_microdeblur.core.inference import deblur, deblurr
deblur(image, method="wiener", psf="gaussian:1.6", iteration=20)
```
"""


@pytest.mark.parametrize("check, expected", [
    (command_problems, ["line 5:", "astig", "line 8:", "layers", "line 9:", "--ouput",
                        "line 9:", "wienr", "line 10:", "gran.em_v9", "line 11:", "--iter "]),
    (lambda text: inline_command_problems(text)[1], ["line 1:", "--precison"]),
    (prose_option_problems, ["line 1: --tile-size", "line 1: --precison"]),
    (prose_value_problems, ["line 2: --precision bf16", "line 2: --modality em|confocal",
                            "line 2: --overlap 1O", "line 2: --json 1"]),
    (lambda text: python_problems(text)[1], ["line 15:", "deblurr", "line 16:", "iteration"]),
])
def test_the_checks_report_a_drifted_readme(check, expected):
    found = "\n".join(check(DRIFTED))
    position = 0
    for words in expected:  # in this order
        assert words in found[position:], (words, found)
        position = found.index(words, position) + len(words)
