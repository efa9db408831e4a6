"""`train` and `finetune` stopped early (walkthrough of 2026-12-13): a run stopped by Ctrl-C,
SIGTERM or a divergence wrote its best weights so far over an --out that another run wrote
while it ran (the finished run keeps that file); a stop before the first training step said
"interrupted at step 0 of 0"; `train --help` imported torch (its options are the regimes')."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import typing

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur import cli
from napari_microdeblur.core import registry
from napari_microdeblur.core.checkpoint import load_model, read_card, save_weights

posix_only = pytest.mark.skipif(os.name != "posix", reason="signals are sent so on POSIX only")
OTHER = b"the other run's weights"

#: the CLI in a child process that prints READY and waits where told (argv[1]): 'step:N' in
#: the N-th training step, 'record:N' after the N-th record the command's job gave
CHILD = """
import sys, time
from napari_microdeblur import cli, cli_training
from napari_microdeblur.core.training.loop import Trainer

where, n = sys.argv[1].split(':')
n = int(n)

def wait():
    print('READY', file=sys.stderr, flush=True)
    time.sleep(120)
    sys.exit('the signal did not stop the run')

if where == 'step':
    real_step, calls = Trainer.train_step, []

    def step(self):
        calls.append(1)
        if len(calls) == n:
            wait()
        return real_step(self)

    Trainer.train_step = step
else:
    real_drive = cli_training.drive_fit

    def paused(job):
        for _ in range(n):
            yield next(job)
        wait()
        return (yield from job)

    cli_training.drive_fit = lambda job, **kw: real_drive(paused(job), **kw)
sys.exit(cli.main(sys.argv[2:]))
"""


def _texture(seed: int, n: int = 64) -> np.ndarray:
    image = ndimage.gaussian_filter(np.random.default_rng(seed).random((n, n)), 2)
    return ((image - image.min()) / np.ptp(image)).astype(np.float32)


@pytest.fixture
def files(tmp_path, monkeypatch):
    (tmp_path / "sharp").mkdir()
    for i in range(2):
        tifffile.imwrite(tmp_path / "sharp" / f"{i}.tif", _texture(i))
    tifffile.imwrite(tmp_path / "s.tif", _texture(0))
    tifffile.imwrite(tmp_path / "b.tif", ndimage.gaussian_filter(_texture(0), 1.5))
    tifffile.imwrite(tmp_path / "big.tif", ndimage.gaussian_filter(_texture(3, 160), 1.5))
    tiny = registry.get_arch("gran").tiny_config
    (tmp_path / "gran.json").write_text(json.dumps(tiny))
    save_weights(registry.build_model("gran", tiny), tmp_path / "base.safetensors",
                 {"license": "CC0-1.0"})
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


TRAIN = ["train", "--arch", "gran", "--config", "gran.json", "--sharp", "sharp", "--patch",
         "32", "--batch", "2", "--device", "cpu", "-q"]
FINETUNE = ["finetune", "--weights", "base.safetensors", "--blurry", "b.tif", "--sharp",
            "s.tif", "--patch", "32", "--batch", "2", "--device", "cpu", "-q", "--patience",
            "100"]
SELF = ["finetune", "--self", "big.tif", "--psf", "gaussian:1.5", "--weights",
        "base.safetensors", "--patch", "32", "--batch", "2", "--device", "cpu", "-q"]


#: a Python that imported what CHILD imports (and what a run imports later: torch._dynamo for
#: the optimiser, the parser's command modules), then forks on request a process that runs
#: CHILD in a given folder and environment. Each stopped run is still a process of its own
#: that takes the real signal and ends by CHILD's sys.exit (atexit handlers and all); the
#: fork only skips the imports (~5 s) that each fresh Python paid again. A request is one JSON
#: line [cwd, environ, argv]; the answers 'PID n', 'ERR <a line the child wrote to stderr>'
#: ..., 'EXIT <its exit status, as Popen.returncode gives it>'. Linux only (a fork after
#: macOS frameworks loaded is unsafe): elsewhere each run is a fresh Python, as before.
FORKER = """
import json, os, sys, tempfile
from napari_microdeblur import cli, cli_training
from napari_microdeblur.core.training.loop import Trainer
import safetensors.torch, torch._dynamo
cli.build_parser()
assert len(os.listdir('/proc/self/task')) == 1, 'a thread started: a fork would not be safe'
for request in sys.stdin:
    cwd, environ, argv = json.loads(request)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        null = os.open(os.devnull, os.O_RDWR)
        for fd, to in ((0, null), (1, null), (2, write)):
            os.dup2(to, fd)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(environ)
        tempfile.tempdir = None  # from TMPDIR, as in a fresh process
        sys.argv = ['-c', *argv]
        break
    os.close(write)
    print('PID', pid, flush=True)
    with os.fdopen(read, errors='replace') as err:
        for line in err:
            print('ERR', line.rstrip(chr(10)), flush=True)
    print('EXIT', os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
else:
    sys.exit(0)
exec(compile(CHILD_SOURCE, '<string>', 'exec'), {'__name__': '__main__'})
"""


def _python(*args, **kw) -> subprocess.Popen:
    # a shell that starts pytest in the background (`cmd &`, nohup) ignores SIGINT and the
    # child would inherit that: the default back, so that Python sets its Ctrl-C handler
    return subprocess.Popen([sys.executable, "-c", *args], text=True, **kw,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.fixture(scope="module")
def forker():
    if not sys.platform.startswith("linux"):
        yield None
        return
    # OpenBLAS starts a thread pool when numpy is imported unless told one thread: the fork
    # check then failed, unless an earlier test in the process (an in-process dask cluster)
    # had set these (the tests failed when pytest-xdist ran this module in another order)
    one = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    run = _python(f"CHILD_SOURCE = {CHILD!r}\n{FORKER}", stdin=subprocess.PIPE,
                  stdout=subprocess.PIPE, env={**os.environ, **one})
    yield run
    run.stdin.close()
    try:
        run.wait(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()


def _start(forker, where: str, argv: list):
    """A child that runs CHILD: what sends it a signal (nothing once it ended), its stderr
    lines as they come, and what gives its exit code (read the lines first)."""
    if forker is None:
        run = _python(CHILD, where, *argv, stderr=subprocess.PIPE)
        return run.send_signal, run.stderr, lambda: run.wait(timeout=120)
    forker.stdin.write(json.dumps([os.getcwd(), dict(os.environ), [where, *argv]]) + "\n")
    forker.stdin.flush()
    answer = forker.stdout.readline()
    if not answer.startswith("PID "):
        pytest.fail(f"the forking Python ended or said {answer!r} (its stderr is above)")
    process = os.pidfd_open(int(answer[4:]))  # this process, also once its pid is reused
    end = []

    def send(sig):
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(process, sig)

    def lines():
        while (line := forker.stdout.readline()).startswith("ERR "):
            yield line[4:]
        end.append(line)
        os.close(process)

    def code():
        for _ in err:  # what the caller left unread
            pass
        assert end[0].startswith("EXIT "), end
        return int(end[0][5:])

    err = lines()
    return send, err, code


def _stopped(forker, where: str, argv: list, sig, *,
             another_run_writes: str = "") -> tuple[int, str]:
    """Run the CLI in a child process, wait for it to reach ``where`` (CHILD), let another
    run write ``another_run_writes`` then, send ``sig``; (exit code, last stderr line)."""
    send, err, exit_code = _start(forker, where, argv)
    code = None
    try:
        seen = []
        for line in err:  # the child's own line, not a sleep racing its start-up
            if line.strip() == "READY":
                break
            seen.append(line)
        else:
            pytest.fail(f"the run ended before it got there: {''.join(seen)}")
        if another_run_writes:
            with open(another_run_writes, "xb") as file:
                file.write(OTHER)
        send(sig)
        lines = "".join(err).strip().splitlines()
        code = exit_code()
    finally:
        if code is None:  # ended here: the next run's lines must not be this one's
            send(signal.SIGKILL)
            with contextlib.suppress(AssertionError, IndexError):
                exit_code()
    return code, lines[-1] if lines else ""


SIGNALS = [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "stopped by SIGTERM")]


# ------------------------------------------------- 1: an --out another run wrote meanwhile


@posix_only
@pytest.mark.parametrize("sig,code,words,folder", [(*SIGNALS[0], True), (*SIGNALS[1], False)],
                         ids=["SIGINT-checkpoint-dir", "SIGTERM-temporary-folder"])
def test_a_stopped_train_keeps_the_out_another_run_wrote(forker, files, sig, code, words, folder):
    extra = ["--checkpoint-dir", "ck"] if folder else []
    got, line = _stopped(forker, "step:6",
                         [*TRAIN, "--steps", "20", "--out", "o.safetensors", *extra], sig,
                         another_run_writes="o.safetensors")
    assert got == code, line
    assert (files / "o.safetensors").read_bytes() == OTHER  # it had been written over
    kept = files / "o.stopped.safetensors"
    assert line.startswith(f"microdeblur: {words} at step 5 of 20; wrote the weights kept so "
                           "far (the best on validation) to o.stopped.safetensors instead of "
                           "o.safetensors, which another run wrote while this one ran"), line
    metrics = read_card(kept).metrics  # validated every 2 steps: 2 or 4 the best
    assert metrics["stopped"] == f"{words} at step 5 of 20".replace("interrupted",
                                                                    "interrupted (Ctrl-C)")
    assert metrics["step"] in (2, 4)
    if folder:  # --overwrite would replace the other run's file: another --out
        assert line.endswith("; the same command with --resume and another --out continues "
                             "it from 'ck/last.pt'"), line
    load_model(kept)


@posix_only
def test_a_second_stopped_run_takes_the_next_free_name(forker, files):
    (files / "o.stopped.safetensors").write_bytes(b"an earlier stopped run's")
    got, line = _stopped(forker, "step:4", [*TRAIN, "--steps", "20", "--out", "o.safetensors"],
                         signal.SIGINT, another_run_writes="o.safetensors")
    assert got == 130 and "to o.stopped-2.safetensors instead of o.safetensors" in line, line
    assert (files / "o.stopped.safetensors").read_bytes() == b"an earlier stopped run's"
    load_model(files / "o.stopped-2.safetensors")


@posix_only
def test_with_overwrite_a_stopped_train_replaces_it(forker, files):
    got, line = _stopped(forker, "step:4",
                         [*TRAIN, "--steps", "20", "--out", "o.safetensors", "--overwrite"],
                         signal.SIGINT, another_run_writes="o.safetensors")
    assert got == 130 and line.endswith("to o.safetensors (--checkpoint-dir DIR keeps a run "
                                        "that --resume can continue)"), line
    load_model(files / "o.safetensors")
    assert not (files / "o.stopped.safetensors").exists()


@posix_only
@pytest.mark.parametrize("sig,code,words", SIGNALS[:1])
def test_a_stopped_finetune_keeps_the_out_another_run_wrote(forker, files, sig, code, words):
    got, line = _stopped(forker, "step:6", [*FINETUNE, "--steps", "20", "--out", "ft.safetensors"],
                         sig, another_run_writes="ft.safetensors")
    assert got == code, line
    assert (files / "ft.safetensors").read_bytes() == OTHER
    assert line.startswith(f"microdeblur: {words}"), line
    assert ("ft.stopped.safetensors instead of ft.safetensors, which another run wrote while "
            "this one ran (kept: without --overwrite no file is replaced)") in line, line
    load_model(files / "ft.stopped.safetensors")


@posix_only
def test_a_stopped_finetune_self_keeps_the_out_another_run_wrote(forker, files):
    """--self kept its weights in memory only: the refused save lost them with an error."""
    got, line = _stopped(forker, "record:3", [*SELF, "--steps", "50", "--out", "self.safetensors"],
                         signal.SIGTERM, another_run_writes="self.safetensors")
    assert got == 143, line
    assert (files / "self.safetensors").read_bytes() == OTHER
    # stopped before any held-out check beat the start: nothing written (2026-12-17), so the
    # other run's file stands and no .stopped copy of the start is made
    assert "before any held-out check beat the starting weights" in line, line
    assert "nothing written to self.safetensors" in line, line
    assert not (files / "self.stopped.safetensors").exists()


def test_a_diverged_train_keeps_the_out_another_run_wrote(files, monkeypatch, capsys):
    from napari_microdeblur.core.training.loop import Trainer

    real, calls = Trainer.train_step, []

    def step(self):
        calls.append(1)
        if len(calls) == 6:  # validated at steps 2 and 4 (of 20)
            (files / "o.safetensors").write_bytes(OTHER)
            raise FloatingPointError("loss is nan")
        return real(self)

    monkeypatch.setattr(Trainer, "train_step", step)
    assert cli.main([*TRAIN, "--steps", "20", "--out", "o.safetensors"]) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert (files / "o.safetensors").read_bytes() == OTHER
    assert "to o.stopped.safetensors instead of o.safetensors" in line, line
    assert read_card(files / "o.stopped.safetensors").metrics["stopped"].startswith(
        "training stopped")


# ------------------------------------------------------ 2: a stop before the first step


@posix_only
@pytest.mark.parametrize("resumed", [False, True], ids=["new", "resumed"])
def test_a_train_stopped_in_its_first_step_says_so(forker, files, resumed):
    extra = ["--checkpoint-dir", "ck"]
    if resumed:
        assert cli.main([*TRAIN, "--steps", "4", "--out", "o.safetensors", *extra]) == 0
        extra += ["--resume", "--overwrite"]
    got, line = _stopped(forker, "step:1",
                         [*TRAIN, "--steps", "20", "--out", "o.safetensors", *extra],
                         signal.SIGINT)
    assert got == 130 and "step 0 of 0" not in line, line
    if resumed:  # its earlier run's best is kept
        assert line.startswith("microdeblur: interrupted before the first training step of "
                               "this session; wrote the weights kept so far"), line
        assert read_card(files / "o.safetensors").metrics["step"] == 4
    else:
        assert line == ("microdeblur: interrupted before the first training step; nothing "
                        "written to o.safetensors"), line  # no last.pt: within a step
        assert not (files / "o.safetensors").exists()


@posix_only
def test_a_finetune_stopped_in_its_first_step_says_so(forker, files):
    got, line = _stopped(forker, "step:1", [*FINETUNE, "--steps", "20", "--out", "ft.safetensors"],
                         signal.SIGTERM)
    assert got == 143
    assert line == ("microdeblur: stopped by SIGTERM before the first training step; "
                    "nothing written to ft.safetensors"), line


# ------------------------------------------------------------- 3: train --help and torch


def test_train_help_and_its_parser_import_no_torch():
    program = ("import sys\n"
               "from napari_microdeblur.cli import build_parser, main\n"
               "args = build_parser().parse_args(['train', '--arch', 'gran', '--out', "
               "'o.safetensors', '--sharp', 's', '--regime', 'sgpn', '--loss', 'mse'])\n"
               "parsed = 'torch' in sys.modules\n"
               "try:\n"
               "    main(['train', '--help'])\n"
               "except SystemExit:\n"
               "    pass\n"
               "print(args.regime, parsed, 'torch' in sys.modules, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "regimes (--regime)" in done.stdout and "--adv-weight" in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "sgpn False False", done.stderr


def test_the_regime_classes_are_their_torch_free_declarations():
    from napari_microdeblur.core.training import TrainingConfig, get_regime, list_regimes
    from napari_microdeblur.core.training import regime_facts as facts

    assert list_regimes() == tuple(facts.REGIME_FACTS)  # --regime's choices, in this order
    for name, declared in facts.REGIME_FACTS.items():
        regime = get_regime(name)
        assert regime.name == name and regime.summary == declared.summary
        assert dict(regime.loss_weights) == dict(declared.loss_weights)
        assert dict(regime.loss_weight_sources) == dict(declared.loss_weight_sources)
        assert regime.checkpoint_criterion == declared.checkpoint_criterion
    field = TrainingConfig.model_fields["perceptual_features"]
    assert typing.get_args(field.annotation) == facts.PERCEPTUAL_FEATURES
    assert field.default == facts.DEFAULT_PERCEPTUAL_FEATURES
    assert TrainingConfig(steps=1, loss="mse").loss == "mse"
    with pytest.raises(ValueError, match="multiscale"):
        TrainingConfig(steps=1, loss="l2")
