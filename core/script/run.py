"""Recording the first training step of a user's own, unmodified microgpt script.

The script is the user's code and runs as such: `python SCRIPT ARGS` in a process of its
own, in its own working directory. core/script/child.py, the child side, stops it at its
first backward() and hands back the graph reachable from the loss as plain lists;
core/script/to_trace.py turns them into a core.trace.record.Trace like the built-in recorder's.
"""
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.script.to_trace import trace_from_capture

RUNNER = Path(__file__).resolve().with_name("child.py")
DEFAULT_TIMEOUT = 120.0  # seconds a script may take to reach its first backward()
STOP_POLL = 0.1  # seconds between two calls of should_stop
RESULT_NOT_WRITTEN = 70  # the child's exit status when it cannot write its result (child.py)


class ScriptError(Exception):
    """A script that could not be recorded. str() is one line.

    kind: missing | raised | exited | finished | timeout | cancelled | killed | unsupported | internal.
    script_traceback: the script's own traceback when it raised (our frames removed), else "".
    output: what the script printed (stdout, then stderr).
    """

    def __init__(self, message, kind, script_traceback="", output=""):
        super().__init__(message)
        self.kind = kind
        self.script_traceback = script_traceback
        self.output = output


def record_script(path, args=(), cwd=None, timeout=DEFAULT_TIMEOUT, should_stop=None):
    """The Trace of the first backward() of the user's script at `path`, run with `args` in `cwd`.

    cwd defaults to the script's folder. Raises ScriptError when the script is missing,
    raises, exits or finishes without calling backward(), or runs longer than `timeout` s.
    should_stop: called a few times a second while the script runs (from the calling
    thread); returning True stops it (ScriptError of kind "cancelled"), for a Cancel button.
    """
    path = Path(path)
    capture = run_script(path, args, cwd, timeout, should_stop)
    return trace_from_capture(capture, script=str(path.resolve()))


def run_script(path, args=(), cwd=None, timeout=DEFAULT_TIMEOUT, should_stop=None):
    """Run the script in a child process up to its first backward(); the captured graph as plain data."""
    path = Path(path)
    if not path.exists():
        raise ScriptError(f"script not found: {path}", "missing")
    if path.is_dir():
        raise ScriptError(f"script path is a directory, not a Python file: {path}", "missing")
    cwd = Path(cwd) if cwd is not None else path.resolve().parent
    if not cwd.is_dir():
        raise ScriptError(f"working directory not found: {cwd}", "missing")
    name = path.name
    with tempfile.TemporaryDirectory(prefix="microgpt-viz-script-") as tmp:
        result_file = Path(tmp) / "result.pickle"
        command = [sys.executable, str(RUNNER), str(result_file), str(path.resolve()), *map(str, args)]
        # A session of its own, so a timeout can end the script and anything it started.
        child = subprocess.Popen(
            command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            out, err = _wait(child, name, timeout, should_stop)
        finally:
            if child.poll() is None:  # interrupted while waiting (KeyboardInterrupt)
                _kill_session(child)
                child.wait()
        output = _text(out, err)
        if not result_file.exists() and child.returncode == RESULT_NOT_WRITTEN:
            raise ScriptError(f"microgpt-viz could not hand back the graph of {name} ({output.strip().splitlines()[-1:]})", "internal", output=output)
        if not result_file.exists():
            how = f"was killed by signal {-child.returncode}" if child.returncode < 0 else f"ended with status {child.returncode}"
            raise ScriptError(f"{name} {how} without calling backward()", "killed" if child.returncode < 0 else "exited", output=output)
        with open(result_file, "rb") as f:
            result = pickle.load(f)
    return _check(result, name, output)


def _wait(child, name, timeout, should_stop):
    """The child's (stdout, stderr) once it ends; ScriptError if it is stopped first (timeout or should_stop)."""
    deadline = time.monotonic() + timeout
    while True:
        wait = deadline - time.monotonic()
        if should_stop is not None:
            wait = min(wait, STOP_POLL)
        try:
            return child.communicate(timeout=max(wait, 0.001))
        except subprocess.TimeoutExpired:
            cancelled = should_stop is not None and should_stop()
            if not cancelled and time.monotonic() < deadline:
                continue
            _kill_session(child)
            output = _text(*child.communicate())
            if cancelled:
                raise ScriptError(f"{name} was stopped before it reached backward() (cancelled)", "cancelled", output=output) from None
            raise ScriptError(
                f"{name} did not reach backward() within {timeout:g} s, so it was stopped (allow more time with a longer timeout)",
                "timeout", output=output,
            ) from None


def _kill_session(child):
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        child.kill()


def _text(out, err):
    decode = lambda b: (b or b"").decode("utf-8", errors="replace")
    return decode(out) + decode(err)


def _check(result, name, output):
    status = result["status"]
    if status == "captured":
        return result
    if status == "raised":
        raise ScriptError(f"{name} raised {result['error']} before calling backward()", "raised", result["traceback"], output)
    if status == "exited":
        code = result["code"]
        how = f"with status {code or 0}" if not isinstance(code, str) else f"with the message {code!r}"
        raise ScriptError(f"{name} exited {how} without calling backward()", "exited", output=output)
    if status == "finished":
        classes = result["value_classes"]
        if classes:
            raise ScriptError(f"{name} finished without calling backward() on its {classes[0]} class", "finished", output=output)
        raise ScriptError(
            f"{name} finished without calling backward() on an autograd Value class "
            "(none found: a class of the script's with backward() and __add__ or __mul__)",
            "finished", output=output,
        )
    if status == "unsupported":
        raise ScriptError(f"{name}: {result['message']}", "unsupported", output=output)
    last = result["traceback"].strip().splitlines()[-1]
    raise ScriptError(f"microgpt-viz failed to read the graph of {name} (a bug in microgpt-viz: {last})", "internal", output=output)
