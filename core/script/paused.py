"""A user's microgpt script kept running between steps: its training loop stepped one backward() at a time.

core/script/run.py runs a script to one backward() and stops it. Here the script runs in a
child process of its own (core/script/paused_child.py) that waits at a backward() call until
told to go on, so stepping it costs only the script's own time: `advance(n)` lets n more
backward() calls run (the ones before the last unrecorded, at nearly full speed) and reads
the last one's graph into a Trace. The losses of every backward() are kept, in order.

The child ends when `close()` is called, when this process goes away (it reads EOF on its
command pipe, or a broken pipe when it next reports), and after the script ends on its own.
"""
import os
import pickle
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from core.script.run import DEFAULT_TIMEOUT, ScriptError, _check, _which_backward
from core.script.to_trace import trace_from_capture

CHILD = Path(__file__).resolve().with_name("paused_child.py")
STOP_POLL = 0.1  # seconds between two calls of should_stop
CLOSE_GRACE = 2.0  # seconds a closed script gets to end on its own before it is killed


class PausedScript:
    """The script at `path` (run with `args` in `cwd`, default its folder), paused between backward() calls.

    Starting it runs nothing yet: the first advance(k) runs it to its k-th backward().
    Raises ScriptError (kind "missing") for a script or folder that is not there.
    """

    def __init__(self, path, args=(), cwd=None):
        self.path = Path(path)
        if not self.path.exists():
            raise ScriptError(f"script not found: {self.path}", "missing")
        if self.path.is_dir():
            raise ScriptError(f"script path is a directory, not a Python file: {self.path}", "missing")
        cwd = Path(cwd) if cwd is not None else self.path.resolve().parent
        if not cwd.is_dir():
            raise ScriptError(f"working directory not found: {cwd}", "missing")
        self.name = self.path.name
        self.losses = []  # the loss of every backward() the script has made, in order
        self.ended = None  # the ScriptError that ended the script (it raised, exited, finished, was stopped), else None
        self._closed = threading.Event()
        self._reading = False  # an advance() is reading the message pipe (in some thread)
        self._pipe_lock = threading.Lock()
        self._output_dir = tempfile.TemporaryDirectory(prefix="microgpt-viz-paused-")
        self._output_path = Path(self._output_dir.name) / "output.txt"
        command_read, self._commands = os.pipe()
        self._messages, message_write = os.pipe()
        try:
            with open(self._output_path, "wb") as output:
                # A session of its own, so closing ends the script and anything it started.
                self.process = subprocess.Popen(
                    [sys.executable, str(CHILD), str(command_read), str(message_write), str(self.path.resolve()), *map(str, args)],
                    cwd=cwd, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                    pass_fds=(command_read, message_write), start_new_session=True,
                )
        except BaseException:
            for fd in (self._commands, self._messages):
                os.close(fd)
            self._closed.set()
            raise
        finally:
            os.close(command_read)
            os.close(message_write)
        self._buffer = b""

    @property
    def backward_calls(self):
        return len(self.losses)

    @property
    def running(self):
        """True while the script can take more steps."""
        return self.ended is None and not self._closed.is_set()

    def output(self):
        """What the script has printed so far (stdout and stderr)."""
        try:
            return self._output_path.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def advance(self, count=1, should_stop=None, on_loss=None, timeout=DEFAULT_TIMEOUT, build=None, stop_kills=False):
        """Let `count` backward() calls run and return the Trace of the last one.

        should_stop: polled a few times a second; once it returns True the script stops at
        the backward() after the one in progress, and that step is returned. on_loss(calls,
        loss): every backward()'s loss as it comes (calls: the script's count so far).
        timeout: seconds the script may take between two backward() calls. build(capture)
        -> Trace (default trace_from_capture). ScriptError when the script ends first (it is
        then over: `ended`), or kind "closed" when close() was called meanwhile.
        stop_kills: should_stop ends the script instead (ScriptError of kind "cancelled"), for a
        script still starting, which may be far from any backward().
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive number of backward() calls, got {count!r}")
        if self.ended is not None:
            raise self.ended
        if self._closed.is_set():
            raise ScriptError(f"{self.name} was closed", "closed")
        wanted = self.backward_calls + count
        self._send(f"go {count}")
        with self._pipe_lock:
            self._reading = True
        try:
            return self._run_to(wanted, should_stop, on_loss, timeout, build, stop_kills)
        finally:
            with self._pipe_lock:
                self._reading = False
                closed = self._closed.is_set()
            if closed:  # close() came from another thread while this one read: the pipe is ours to close
                self._close_messages()

    def _run_to(self, wanted, should_stop, on_loss, timeout, build, stop_kills):
        cancelled = False
        while True:
            try:
                message = self._receive(timeout, lambda: should_stop is not None and should_stop(), wanted)
            except _StopAsked:
                if stop_kills:
                    self._end_with(lambda: ScriptError(
                        f"{self.name} was stopped before it reached {_which_backward(wanted)} (cancelled)", "cancelled", output=self.output()))
                if not cancelled:
                    cancelled = True
                    self._send("cancel")
                continue
            status = message["status"]
            if status == "loss":
                self.losses.append(message["loss"])
                if on_loss is not None:
                    on_loss(message["backward_calls"], message["loss"])
                if not stop_kills and not cancelled and should_stop is not None and should_stop():  # a busy pipe is not polled
                    cancelled = True
                    self._send("cancel")
            elif status == "captured":
                capture = dict(message)
                return (build or self.trace_of)(capture)
            else:
                self._end_with(lambda: _check(message, self.name, self.output(), wanted))

    def trace_of(self, capture):
        """The Trace of a step the script handed over."""
        return trace_from_capture(capture, script=str(self.path.resolve()))

    def close(self):
        """End the script (and whatever it started); safe from any thread, and to call twice."""
        if self._closed.is_set():
            return
        self._closed.set()
        try:
            os.close(self._commands)  # EOF: a paused script ends on its own
        except OSError:
            pass
        try:
            self.process.wait(CLOSE_GRACE)
        except subprocess.TimeoutExpired:
            pass
        _kill_session(self.process)
        self.process.wait()
        with self._pipe_lock:
            reading = self._reading
        if not reading:  # else the reader closes it, so its descriptor cannot be reused under it
            self._close_messages()
        self._output_dir.cleanup()

    def _close_messages(self):
        with self._pipe_lock:
            fd, self._messages = self._messages, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    # ---- plumbing -------------------------------------------------------------------
    def _send(self, line):
        try:
            os.write(self._commands, (line + "\n").encode("ascii"))
        except OSError:
            pass  # the script has ended: reading its last message says how

    def _receive(self, timeout, stop_asked, wanted):
        header = self._read(8, timeout, stop_asked, wanted)
        body = self._read(int.from_bytes(header, "big"), timeout, lambda: False, wanted)
        return pickle.loads(body)

    def _read(self, size, timeout, stop_asked, wanted):
        deadline = time.monotonic() + timeout
        while len(self._buffer) < size:
            if self._closed.is_set():
                raise ScriptError(f"{self.name} was closed", "closed")
            left = deadline - time.monotonic()
            if left <= 0:
                self._end_with(lambda: ScriptError(
                    f"{self.name} did not reach {_which_backward(wanted)} within {timeout:g} s of the one before, so it was stopped",
                    "timeout", output=self.output()))
            try:
                ready = select.select([self._messages], [], [], min(left, STOP_POLL))[0]
            except (OSError, ValueError):  # closed from another thread meanwhile
                raise ScriptError(f"{self.name} was closed", "closed") from None
            if not ready:
                if stop_asked():
                    raise _StopAsked
                continue
            try:
                chunk = os.read(self._messages, max(size - len(self._buffer), 65536))
            except OSError:
                chunk = b""
            if not chunk:
                if self._closed.is_set():
                    raise ScriptError(f"{self.name} was closed", "closed")
                code = self.process.wait()
                how = f"was killed by signal {-code}" if code < 0 else f"ended with status {code}"
                kind = "killed" if code < 0 else "exited"
                self._end_with(lambda: ScriptError(f"{self.name} {how} before {_which_backward(wanted)}", kind, output=self.output()))
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _end_with(self, make_error):
        """The script is over: remember why (make_error() returns or raises the ScriptError), end the process, raise it."""
        try:
            error = make_error()
        except ScriptError as raised:
            error = raised
        self.ended = error
        output = error.output
        self.close()
        error.output = output
        raise error


class _StopAsked(Exception):
    """should_stop() said True while no message was waiting."""


def _kill_session(process):
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
