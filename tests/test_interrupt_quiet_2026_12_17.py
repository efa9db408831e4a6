"""A Ctrl-C during a Zarr write printed, after the one 'interrupted' line, about 100 lines of
asyncio's 'Task was destroyed but it is pending!' from zarr's I/O loop at exit: the command
quiets asyncio's logger when it says it was stopped."""

import asyncio
import logging

import pytest

from napari_microdeblur import cli


@pytest.fixture
def asyncio_logger():
    logger = logging.getLogger("asyncio")
    level = logger.level
    logger.setLevel(logging.NOTSET)  # an earlier test's interrupted command quieted it
    yield logger
    logger.setLevel(level)


def test_an_interrupted_command_says_one_line_and_quiets_asyncio(monkeypatch, capsys,
                                                                   asyncio_logger):
    def interrupted(argv):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_run", interrupted)
    assert asyncio_logger.isEnabledFor(logging.ERROR)
    assert cli.main(["info", "x.tif"]) == cli.EXIT_INTERRUPTED
    assert capsys.readouterr().err == "microdeblur: interrupted; no partial output was left\n"
    assert not asyncio_logger.isEnabledFor(logging.ERROR)
    loop = asyncio.new_event_loop()  # what zarr's loop says of a task cut short: not printed
    loop.call_exception_handler({"message": "Task was destroyed but it is pending!"})
    loop.close()
    assert capsys.readouterr().err == ""
