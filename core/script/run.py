"""Recording one training step of a user's own, unmodified microgpt script.

The script is the user's code and runs as such: `python SCRIPT ARGS` in a process of its
own, in its own working directory. core/script/child.py, the child side, lets it run to its
K-th backward() (the first by default) and hands back the graph reachable from that loss as plain lists;
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
DEFAULT_TIMEOUT = 120.0  # seconds a script may take to reach the backward() to record
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


def record_script(path, args=(), cwd=None, timeout=DEFAULT_TIMEOUT, should_stop=None, at_backward=1):
    """The Trace of the `at_backward`-th backward() (1: the first) of the user's script at `path`, run with `args` in `cwd`.

    cwd defaults to the script's folder. Raises ScriptError when the script is missing,
    raises, exits or finishes before that backward(), or runs longer than `timeout` s.
    should_stop: called a few times a second while the script runs (from the calling
    thread); returning True stops it (ScriptError of kind "cancelled"), for a Cancel button.
    """
    path = Path(path)
    capture = run_script(path, args, cwd, timeout, should_stop, at_backward)
    return trace_from_capture(capture, script=str(path.resolve()))


def run_script(path, args=(), cwd=None, timeout=DEFAULT_TIMEOUT, should_stop=None, at_backward=1):
    """Run the script in a child process up to its `at_backward`-th backward(); the captured graph as plain data."""
    path = Path(path)
    if isinstance(at_backward, bool) or not isinstance(at_backward, int) or at_backward < 1:
        raise ValueError(f"at_backward counts backward() calls from 1, got {at_backward!r}")
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
        command = [sys.executable, str(RUNNER), str(result_file), str(at_backward), str(path.resolve()), *map(str, args)]
        # A session of its own, so a timeout can end the script and anything it started.
        child = subprocess.Popen(
            command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            out, err = _wait(child, name, timeout, should_stop, _which_backward(at_backward))
        finally:
            if child.poll() is None:  # interrupted while waiting (KeyboardInterrupt)
                _kill_session(child)
                child.wait()
        output = _text(out, err)
        if not result_file.exists() and child.returncode == RESULT_NOT_WRITTEN:
            raise ScriptError(f"microgpt-viz could not hand back the graph of {name} ({output.strip().splitlines()[-1:]})", "internal", output=output)
        if not result_file.exists():
            how = f"was killed by signal {-child.returncode}" if child.returncode < 0 else f"ended with status {child.returncode}"
            raise ScriptError(f"{name} {how} {'without calling' if at_backward == 1 else 'before'} {_which_backward(at_backward)}", "killed" if child.returncode < 0 else "exited", output=output)
        with open(result_file, "rb") as f:
            result = pickle.load(f)
    return _check(result, name, output, at_backward)


def _which_backward(k):
    """'backward()' for the first call, 'its 5th backward()' for a later one: how messages name the call awaited."""
    if k == 1:
        return "backward()"
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"its {k}{suffix} backward()"


def _without(result, at_backward):
    """'without calling backward()', or 'after 3 backward() calls, before the 5th' when it made some."""
    calls = result.get("backward_calls", 0)
    if calls == 0:
        return "without calling backward()"
    return f"after {calls} backward() call{'s' if calls != 1 else ''}, before {_which_backward(at_backward)}"


def _wait(child, name, timeout, should_stop, awaited="backward()"):
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
                raise ScriptError(f"{name} was stopped before it reached {awaited} (cancelled)", "cancelled", output=output) from None
            raise ScriptError(
                f"{name} did not reach {awaited} within {timeout:g} s, so it was stopped (allow more time with a longer timeout)",
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


def _before(result, at_backward):
    """'before calling backward()', or 'after 3 backward() calls, before the 5th'."""
    if result.get("backward_calls", 0) == 0:
        return "before calling backward()"
    return _without(result, at_backward)


def _check(result, name, output, at_backward=1):
    status = result["status"]
    if status == "captured":
        return result
    if status == "raised":
        raise ScriptError(f"{name} raised {result['error']} {_before(result, at_backward)}", "raised", result["traceback"], output)
    if status == "exited":
        code = result["code"]
        how = f"with status {code or 0}" if not isinstance(code, str) else f"with the message {code!r}"
        raise ScriptError(f"{name} exited {how} {_without(result, at_backward)}", "exited", output=output)
    if status == "finished":
        classes = result["value_classes"]
        if classes:
            if result.get("backward_calls", 0):
                raise ScriptError(f"{name} finished {_without(result, at_backward)}", "finished", output=output)
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
