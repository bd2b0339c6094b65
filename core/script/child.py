"""The child side of core/script/run.py: runs a user's script as `python script.py` would, up to its K-th backward().

Usage (core/script/run.py does this): python child.py RESULT_FILE K SCRIPT [SCRIPT ARGS...]

This file is the main program of its own Python process and imports no package of this
project (child_graph.py, which reads the graph, is loaded by file path under a private
name), so the user's directory comes first on sys.path exactly as when they run their
script, and none of our package names can shadow theirs. It

1. wraps `builtins.__build_class__`, so the autograd Value class is found the moment the
   script (or a module of the user's) defines it; its `__init__` is wrapped to note, for every
   Value, when it was made and the user's call stack at that moment (kept in a side table,
   since a `__slots__` Value takes no new attribute), and its `backward` to capture the graph;
2. runs the script with runpy under the name __main__, with the script's own argv;
3. lets the first K-1 backward() calls run as they are; from the first one on, Values are not
   noted until the step before the K-th is done, so those steps run at nearly full speed, and
   the noted Values that died with their step are let go;
4. at the K-th backward(): lets it run, reads the graph reachable from the loss into plain
   lists, writes them to the result file and ends the process with os._exit, which nothing
   the script does (a bare `except:`, a `finally`) can intercept.

Whatever happens instead (the script raises, exits, finishes, never defines a Value class)
is written to the result file as well, with the script's traceback stripped of our frames.
"""
import builtins
import importlib.util
import itertools
import os
import pickle
import runpy
import sys
import traceback

RUNNER_FILE = os.path.realpath(__file__)
# runpy's frames show as "<frozen runpy>" (or its file, when not frozen); the script never sees them
RUNPY_NAMES = {"<frozen runpy>", os.path.realpath(runpy.__file__)}


def _load_graph_reader():
    path = os.path.join(os.path.dirname(RUNNER_FILE), "child_graph.py")
    spec = importlib.util.spec_from_file_location("_microgpt_viz_child_graph", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


graph_reader = _load_graph_reader()
is_user_file = graph_reader.is_user_file

# --- state of the run (module globals: the __init__ wrapper reads them on every Value) ---
value_classes = []  # the script's autograd classes, in definition order
value_codes = {}  # code object of every function of those classes -> its name
made = {}  # id(value) -> (value, creation index, site index, method name, pow exponent)
sites = {}  # (function names outermost first, file, line) -> site index
frame_names = {}  # code object -> its scope name, "<" for comprehensions and module level, False if not the user's
result_path = None
wanted_backward = 1  # K: the backward() call whose graph is captured (1 = the first)
backward_calls = 0  # backward() calls the script has made so far
noting = True  # whether __init__ notes new Values: off between the first backward() and the step before the K-th
creation_order = itertools.count()  # a Value's creation index: children are always made before their parents


# --------------------------------------------------------------------------- finding the class


def _frame_name(code):
    """A user frame's part of a scope path: its function's name; Class.__call__ for dunder methods."""
    if not is_user_file(code.co_filename):
        return False
    name = code.co_name
    if name.startswith("<"):
        return "<"
    if name.startswith("__") and name.endswith("__"):
        name = getattr(code, "co_qualname", name).rsplit("<locals>.", 1)[-1]
    return name


def looks_like_value_class(cls):
    """An autograd scalar: a class of the user's that can add or multiply and has backward()."""
    return (
        callable(getattr(cls, "backward", None))
        and (getattr(cls, "__add__", None) is not None or getattr(cls, "__mul__", None) is not None)
    )


def _functions_of(cls):
    for attr in vars(cls).values():
        attr = getattr(attr, "__func__", attr)  # staticmethod / classmethod
        if isinstance(attr, property):
            attr = attr.fget
        code = getattr(attr, "__code__", None)
        if code is not None:
            yield attr.__name__, code


def _build_class(func, name, *bases, **kwargs):
    cls = original_build_class(func, name, *bases, **kwargs)
    try:
        if isinstance(cls, type) and is_user_file(func.__code__.co_filename) and looks_like_value_class(cls):
            watch_value_class(cls)
    except Exception:  # a class we cannot inspect is not ours to watch; the script must not notice
        pass
    return cls


original_build_class = builtins.__build_class__


def watch_value_class(cls):
    for fname, code in _functions_of(cls):
        value_codes[code] = fname
    init = cls.__init__
    if not getattr(init, "_microgpt_viz_wrapper", False):
        cls.__init__ = _wrap_init(init)
        value_codes[cls.__init__.__code__] = "__init__"
    backward = cls.backward
    if not getattr(backward, "_microgpt_viz_wrapper", False):
        cls.backward = _wrap_backward(backward)
    value_classes.append(cls)


def _wrap_init(original):
    getframe = sys._getframe

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        try:
            note(self)
        except Exception:  # our bookkeeping must never change what the script does
            pass

    def note(self):
        key = id(self)
        if not noting or key in made:  # between recorded steps, or a subclass's __init__ ran ours already
            return
        frame = getframe(2)  # the caller of __init__ (note <- __init__ <- caller)
        method = exponent = None
        code = frame.f_code
        if code in value_codes:
            method = value_codes[code]
            if method == "__pow__" and code.co_argcount >= 2:
                exponent = frame.f_locals.get(code.co_varnames[1])
                if isinstance(exponent, bool) or not isinstance(exponent, (int, float)):
                    exponent = None
            frame = frame.f_back
            while frame is not None and frame.f_code in value_codes:
                frame = frame.f_back
        # Values come in runs from a few live frames (a genexpr and the sum() around it), whose
        # chains of callers cannot change while they run: walk the stack once per frame.
        walked = recent_walks.get(frame)
        if walked is None:
            if len(recent_walks) >= 32:
                recent_walks.clear()  # also lets finished frames go
            walked = recent_walks[frame] = _walk(frame)
        user_frame, names, file = walked
        site_key = (names, file, user_frame.f_lineno if user_frame is not None else 0)
        site = sites.get(site_key)
        if site is None:
            site = sites[site_key] = len(sites)
        made[key] = (self, next(creation_order), site, method, exponent)

    __init__._microgpt_viz_wrapper = True
    return __init__


recent_walks = {}  # live frame -> _walk(frame); holding the frame keeps its identity unique


def _walk(frame):
    """(innermost user frame, the user's function names outermost first, its file) for a stack."""
    names = []
    user_frame = file = None
    while frame is not None:
        code = frame.f_code
        name = frame_names.get(code)
        if name is None:
            name = frame_names[code] = _frame_name(code)
        if name:
            if user_frame is None:
                user_frame, file = frame, code.co_filename
            if name != "<":
                names.append(name)
        frame = frame.f_back
    names.reverse()
    return user_frame, tuple(names), file


def _wrap_backward(original):
    def backward(self, *args, **kwargs):
        global backward_calls, noting
        original(self, *args, **kwargs)
        backward_calls += 1
        if backward_calls >= wanted_backward:
            capture(self, sys._getframe(1))
        noting = backward_calls == wanted_backward - 1  # the next step is the one to record
        _forget_dead_values()

    backward._microgpt_viz_wrapper = True
    return backward


def _forget_dead_values():
    """Let go of the noted Values nothing but `made` holds any more (an earlier step's); parameters stay.

    Newest first: a Value is made after its children, so dropping a dead one frees it, which
    releases its children before the loop reaches them, and one pass frees a whole dead graph.
    """
    only_made = sys.getrefcount(object()) + 1  # the entry's tuple, and getrefcount's own argument
    for key in reversed(list(made)):
        if sys.getrefcount(made[key][0]) <= only_made:
            del made[key]
    recent_walks.clear()


# --------------------------------------------------------------------------- ending the run


RESULT_NOT_WRITTEN = 70  # exit status when the result cannot be handed back (core/script/run.py knows it)


def finish(result):
    """Write the result for the parent and end this process at once."""
    result["value_classes"] = [c.__name__ for c in value_classes]
    result["backward_calls"] = backward_calls
    tmp = f"{result_path}.partial"
    try:
        with open(tmp, "wb") as f:
            pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, result_path)
    except Exception as e:
        sys.__stderr__.write(f"microgpt-viz: cannot hand back the result: {e}\n")
        os._exit(RESULT_NOT_WRITTEN)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # the script may have closed or replaced its streams
            pass
    os._exit(0)


def capture(loss, frame):
    try:
        graph = graph_reader.read_graph(loss, made, sites)
        graph.update(graph_reader.read_namespaces(graph.pop("topo"), frame, value_classes))
        result = {"status": "captured", **graph}
    except graph_reader.Unsupported as e:
        result = {"status": "unsupported", "message": str(e)}
    except Exception:
        result = {"status": "internal", "traceback": traceback.format_exc()}
    finish(result)


def _strip_ours(te, our_files):
    """Drop our frames (and runpy's) from a TracebackException and its chained causes."""
    while te is not None:
        te.stack = traceback.StackSummary.from_list(
            [f for f in te.stack if f.filename not in RUNPY_NAMES and os.path.realpath(f.filename) not in our_files]
        )
        _strip_ours(te.__cause__, our_files)
        te = te.__context__


def script_traceback(error, our_files=(RUNNER_FILE,)):
    """The traceback Python itself would print for the script, without our frames."""
    te = traceback.TracebackException(type(error), error, error.__traceback__)
    _strip_ours(te, our_files)
    return "".join(te.format())


def run_as_main(script, args, build_class, finish, our_files=(RUNNER_FILE,)):
    """Run the script as `python script.py ARGS` would, our class watching on, and hand how it
    ended to finish (raised, exited or finished), which does not return."""
    sys.argv = [script, *args]
    sys.path[0] = os.path.dirname(os.path.realpath(script))  # as `python script.py` sets it
    builtins.__build_class__ = build_class
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        code = e.code
        finish({"status": "exited", "code": code if isinstance(code, (int, type(None))) else str(code)})
    except BaseException as e:
        error = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        finish({"status": "raised", "error": error, "traceback": script_traceback(e, our_files)})
    finish({"status": "finished"})


def main(argv):
    global result_path
    global wanted_backward
    result_path, wanted_backward = argv[1], int(argv[2])
    run_as_main(os.path.abspath(argv[3]), argv[4:], _build_class, finish)


if __name__ == "__main__":
    main(sys.argv)
