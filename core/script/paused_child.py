"""The child side of core/script/paused.py: a user's script run as `python script.py` would run it,
paused at its backward() calls so the app can step its training loop.

Usage (core/script/paused.py does this): python paused_child.py COMMAND_FD MESSAGE_FD SCRIPT [ARGS...]

It watches the script's Values the way child.py does (child.py is loaded by file path under
a private name and its Value watching reused, so no package of ours is imported here and
none can shadow the user's), but the script does not end at the captured step. At every
backward() it reports the loss; at the one the app asked for it sends that step's graph
and waits for the next command on COMMAND_FD, one per line:

    go N      run on to the N-th backward() from here and send its graph
    cancel    (while running) stop at the backward() after the one in progress

EOF on COMMAND_FD means the app is gone: the process ends. Messages on MESSAGE_FD are pickled
dicts, each after its length (8 bytes, big-endian), with a "status": "loss" for every
backward(), "captured" for the graph asked for, or how the script ended (the statuses of
child.py: raised, exited, finished, unsupported, internal), after which the process ends.
Between recorded steps Values are not noted, so the steps the app skips run at nearly full speed.
"""
import importlib.util
import os
import pickle
import select
import sys
import traceback

HERE = os.path.dirname(os.path.realpath(__file__))
OUR_FILES = {os.path.realpath(__file__), os.path.join(HERE, "child.py")}


def _load_watcher():
    spec = importlib.util.spec_from_file_location("_microgpt_viz_child", os.path.join(HERE, "child.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


watcher = _load_watcher()
command_fd = message_fd = None
pending = b""  # bytes read from COMMAND_FD that do not make a whole line yet
target = 1  # the backward() call (counted from the script's start) whose graph is sent next


# --------------------------------------------------------------------------- talking to the app


def send(message):
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    data = len(body).to_bytes(8, "big") + body
    try:
        while data:
            data = data[os.write(message_fd, data):]
    except OSError:  # the app is gone (a broken pipe): nobody is left to run for
        os._exit(0)


def _read_line(block):
    """The next command line, or None when none is waiting (block=False); the app gone ends the process."""
    global pending
    while b"\n" not in pending:
        if not block and not select.select([command_fd], [], [], 0)[0]:
            return None
        chunk = os.read(command_fd, 4096)
        if not chunk:
            os._exit(0)
        pending += chunk
    line, pending = pending.split(b"\n", 1)
    return line.decode("ascii").strip()


def wait_for_go():
    """Block until the app says how far to run; sets the next target."""
    global target
    while True:
        words = _read_line(block=True).split()
        if len(words) == 2 and words[0] == "go" and words[1].isdigit() and int(words[1]) >= 1:
            target = watcher.backward_calls + int(words[1])
            return


def _cancel_waiting():
    """A cancel sent while the script runs: the step after the current one is sent instead of the target."""
    global target
    while True:
        line = _read_line(block=False)
        if line is None:
            return
        if line == "cancel":
            target = min(target, watcher.backward_calls + 1)


# --------------------------------------------------------------------------- the script's backward()


def _wrap_backward(original):
    def backward(self, *args, **kwargs):
        original(self, *args, **kwargs)
        watcher.backward_calls += 1
        calls = watcher.backward_calls
        send({"status": "loss", "backward_calls": calls, "loss": watcher.graph_reader._as_float(self.data)})
        if calls >= target:
            _send_graph(self, sys._getframe(1))
            wait_for_go()
        else:
            _cancel_waiting()
        watcher.noting = watcher.backward_calls == target - 1  # the next step is the one to record
        watcher._forget_dead_values()

    backward._microgpt_viz_wrapper = True
    return backward


def _grads_of(root):
    """[(value, grad)] of every Value reachable from `root`: reading a micrograd graph replays each
    node's `_backward`, which overwrites grads the script's update is still to use."""
    seen, stack, grads = {id(root)}, [root], []
    while stack:
        v = stack.pop()
        grads.append((v, v.grad))
        kids = getattr(v, "_children", None)
        for c in kids if kids is not None else getattr(v, "_prev", ()):
            if id(c) not in seen:
                seen.add(id(c))
                stack.append(c)
    return grads


def _send_graph(loss, frame):
    try:
        grads = _grads_of(loss)
        try:
            graph = watcher.graph_reader.read_graph(loss, watcher.made, watcher.sites)
        finally:
            for v, g in grads:
                v.grad = g
        graph.update(watcher.graph_reader.read_namespaces(graph.pop("topo"), frame, watcher.value_classes))
    except watcher.graph_reader.Unsupported as e:
        finish({"status": "unsupported", "message": str(e)})
    except Exception:
        finish({"status": "internal", "traceback": traceback.format_exc()})
    send({"status": "captured", "backward_calls": watcher.backward_calls,
          "value_classes": [c.__name__ for c in watcher.value_classes], **graph})


# --------------------------------------------------------------------------- ending


def finish(message):
    message["value_classes"] = [c.__name__ for c in watcher.value_classes]
    message["backward_calls"] = watcher.backward_calls
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # the script may have closed or replaced its streams
            pass
    send(message)
    os._exit(0)


def main(argv):
    global command_fd, message_fd
    command_fd, message_fd = int(argv[1]), int(argv[2])
    script, args = os.path.abspath(argv[3]), argv[4:]
    wait_for_go()
    watcher.noting = target == 1
    watcher._wrap_backward = _wrap_backward  # watch_value_class wraps the script's backward() with ours
    watcher.run_as_main(script, args, watcher._build_class, finish, OUR_FILES)


if __name__ == "__main__":
    main(sys.argv)
