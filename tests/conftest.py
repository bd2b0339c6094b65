"""Fixtures every test folder shares: the real dataset, the fixture scripts, and the CLI, run in-process or as a process."""
import contextlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

# Qt never needs a screen in tests.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
NAMES = ROOT.parent / "shared" / "data" / "names.txt"
FIXTURES = ROOT / "tests" / "fixtures"


def pytest_collection_modifyitems(config, items):
    """The full training runs (marked slow) take minutes: start them first, so each of two workers takes one."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def names_path():
    """The real 32,033-name dataset (CI has it beside the clone); tests skip only where it is absent."""
    if not NAMES.is_file():
        pytest.skip(f"reference dataset not found at {NAMES}")
    return NAMES


@pytest.fixture(scope="session")
def root():
    """The project's root folder (the clone)."""
    return ROOT


def _process_running(pid):
    """Whether process `pid` runs (a zombie, ended but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture(scope="session")
def process_running():
    """process_running(pid): whether that process runs (tests that a user's script process ended)."""
    return _process_running


@pytest.fixture(scope="session")
def scripts():
    """The user-script fixtures in tests/fixtures: three Value styles of microgpt and a micrograd MLP."""
    return SimpleNamespace(
        folder=FIXTURES,
        tuples=FIXTURES / "microgpt_tuples.py",  # microgpt's own Value: _children / _local_grads tuples
        slots=FIXTURES / "microgpt_slots.py",  # the same with __slots__, organised in functions and a class
        micrograd=FIXTURES / "micrograd_style.py",  # micrograd's Value: _prev, _op, _backward
        mlp=FIXTURES / "micrograd_mlp.py",  # a micrograd MLP on a toy regression
    )


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def assert_one_line_error(self, fragment):
        """Exit status 2 and exactly one `microgpt-viz: error: ...` line on stderr that contains `fragment`."""
        assert self.returncode == 2, (self.stdout, self.stderr)
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, self.stderr
        assert "Traceback" not in self.stderr
        assert lines[0].startswith("microgpt-viz: error:")
        assert fragment in lines[0], lines[0]


@pytest.fixture
def cli(monkeypatch):
    """Run `microgpt-viz ARGS` in this process: cli(*args, cwd=None) -> CliResult."""
    from microgpt_viz.cli.main import main

    def run(*args, cwd=None):
        monkeypatch.chdir(cwd or ROOT)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in args])
        return CliResult(code, out.getvalue(), err.getvalue())

    return run


@pytest.fixture
def cli_process():
    """Run `python -m microgpt_viz ARGS` as a process of its own, for tests where the process is the point."""

    def run(*args, cwd=None, timeout=600, env=None):
        environment = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
        result = subprocess.run(
            [sys.executable, "-m", "microgpt_viz", *map(str, args)],
            cwd=cwd or ROOT, env=environment, capture_output=True, text=True, timeout=timeout,
        )
        return CliResult(result.returncode, result.stdout, result.stderr)

    return run
