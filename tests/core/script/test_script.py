"""Recording the first step of a user's own, unmodified script (core/script/).

The fixtures in tests/fixtures/ are users' scripts in the three Value styles in circulation:
(a) micrograd (`_prev` set, `_op`, `_backward` closures), (b) `_children` / `_local_grads`
tuples without op names, (c) the same with `__slots__`. (b) and (c) implement microgpt from
the spec, so their graphs must equal the built-in recorder's node for node.
"""
import json
import math
import os
import subprocess
import sys
import textwrap
from collections import Counter

import networkx as nx
import numpy as np
import pytest

from core.engine.config import preset
from core.engine.data import load_docs
from core.script.run import ScriptError, record_script, run_script
from core.script.child_graph import infer_op
from core.script.to_trace import find_position_losses, trace_from_capture
from core.engine.train import Trainer


def assert_same_step(mine, ref, exact_grads=True):
    """Node for node the built-in recorder's graph: ids, ops, kinds, positions, data, grads, edges, parameters."""
    assert (mine.num_nodes, mine.num_edges) == (ref.num_nodes, ref.num_edges)
    assert mine.op == ref.op
    assert mine.kind == ref.kind
    assert np.array_equal(mine.pos, ref.pos)
    assert np.array_equal(mine.data, ref.data)
    if exact_grads:
        assert np.array_equal(mine.grad, ref.grad)
    else:  # a micrograd-style backward walks a set, so it adds the same terms in another order
        np.testing.assert_allclose(mine.grad, ref.grad, rtol=1e-9, atol=1e-15)
    assert sorted(mine.graph.edges(keys=True, data="local_grad")) == sorted(ref.graph.edges(keys=True, data="local_grad"))
    for node, attrs in ref.graph.nodes(data=True):
        got = mine.graph.nodes[node]
        assert (got["param"], got["row"], got["col"]) == (attrs["param"], attrs["row"], attrs["col"]), node
        assert got.get("exponent") == attrs.get("exponent"), node
    assert mine.param_nodes == ref.param_nodes
    assert (mine.loss, mine.loss_node) == (ref.loss, ref.loss_node)
    assert mine.position_losses == ref.position_losses
    assert mine.position_loss_nodes == ref.position_loss_nodes
    assert (mine.doc, mine.tokens, mine.token_labels) == (ref.doc, ref.tokens, ref.token_labels)


# --------------------------------------------------------------------------- the three styles
# (the scripts' steps are recorded once for this folder: see conftest.py)


@pytest.fixture(scope="module")
def tuples_trace(script_traces):
    return script_traces("tuples")  # run with no argument: it reads input.txt in its working directory


def test_style_b_tuples_equals_the_built_in_engine(tuples_trace, built_in):
    assert_same_step(tuples_trace, built_in("latest"))


def test_style_c_slots_equals_the_built_in_engine(script_traces, built_in):
    assert_same_step(script_traces("slots"), built_in("original"))


def test_style_a_micrograd_equals_the_built_in_engine_but_for_summation_order(script_traces, built_in, scripts):
    trace = script_traces("micrograd")
    assert_same_step(trace, built_in("original"), exact_grads=False)
    # the values come from the script's own lines, never from the imported engine's methods
    assert {a["file"] for _, a in trace.graph.nodes(data=True) if a["kind"] != "param"} == {str(scripts.micrograd)}


def test_names_txt_first_step_matches_the_reference_graph(names_path, scripts):
    trace = record_script(scripts.tuples, [str(names_path), "1"])
    assert (trace.doc, trace.num_nodes, trace.num_edges) == ("yuheng", 59647, 107060)
    ref = Trainer(load_docs(names_path), preset("latest")).record()
    for name, nodes in ref.param_nodes.items():
        assert trace.param_nodes[name] == nodes
        assert np.array_equal(trace.data[list(nodes)], ref.data[list(nodes)]), name
        assert np.array_equal(trace.grad[list(nodes)], ref.grad[list(nodes)]), name


def test_scopes_and_source_lines_come_from_the_users_code(tuples_trace, scripts):
    graph = tuples_trace.graph
    lines = scripts.tuples.read_text().splitlines()
    scopes = set(tuples_trace.scope)
    assert {"pos0/gpt/linear", "pos2/gpt/rmsnorm", "pos3/gpt/softmax", "pos1/softmax", "params/wte"} <= scopes
    for node, attrs in graph.nodes(data=True):
        if attrs["kind"] != "param":
            assert attrs["file"] == str(scripts.tuples)
            assert 1 <= attrs["line"] <= len(lines)
    # the exp of the attention softmax points at the `.exp()` line of the user's softmax()
    exp = next(n for n, a in graph.nodes(data=True) if a["op"] == "exp" and a["scope"] == "pos1/gpt/softmax")
    assert ".exp()" in lines[graph.nodes[exp]["line"] - 1]
    fc = next(n for n, a in graph.nodes(data=True) if a["op"] == "*" and a["scope"] == "pos0/gpt/linear")
    assert "wi * xi" in lines[graph.nodes[fc]["line"] - 1]
    # parameters keep their creation line too (inside matrix())
    wte = tuples_trace.param_nodes["wte"][0]
    assert "Value(random.gauss" in lines[graph.nodes[wte]["line"] - 1]


def test_scopes_follow_a_differently_organised_script(script_traces):
    scopes = set(script_traces("slots").scope)
    assert "pos1/main/train/step_loss/forward/attention/normalize" in scopes
    assert "pos0/main/train/step_loss/forward/mlp/project" in scopes
    assert "params/layer0.attn_wq" in scopes  # model.weights['layer0.attn_wq']: the shared 'weights.' names nothing


def test_graph_filled_directly_equals_the_public_api_graph(tuples_trace):
    rebuilt = nx.MultiDiGraph()
    rebuilt.add_nodes_from(tuples_trace.graph.nodes(data=True))
    rebuilt.add_edges_from(tuples_trace.graph.edges(keys=True, data=True))
    assert nx.utils.graphs_equal(rebuilt, tuples_trace.graph)
    assert sorted(rebuilt.in_degree()) == sorted(tuples_trace.graph.in_degree())


def test_a_micrograd_mlp_that_is_no_gpt(script_traces):
    trace = script_traces("mlp")
    ops = Counter(trace.op)
    # 4 samples through 3 -> 4 -> 1 tanh neurons
    assert ops["tanh"] == 4 * 5 and ops["param"] == 4 * 4 + 5
    assert {trace.graph.nodes[n]["exponent"] for n in trace.graph if trace.op[n] == "**"} == {2.0}
    # the summed squared errors are the per-sample losses; each forward pass belongs to its sample
    assert trace.positions == 4 and trace.tokens == () and trace.doc == ""
    assert {trace.graph.nodes[n]["scope"] for n in trace.graph if trace.op[n] == "tanh"} == {
        f"pos{t}/MLP.__call__/Layer.__call__/Neuron.__call__" for t in range(4)
    }
    assert len(trace.param_nodes["layers.0.neurons.2.w"]) == 3 and len(trace.param_nodes["layers.1.neurons.0.b"]) == 1
    # local gradients measured from the _backward closures obey the chain rule
    graph = trace.graph
    for node in graph:
        if graph.out_degree(node):
            total = sum(d["local_grad"] * graph.nodes[v]["grad"] for _, v, d in graph.out_edges(node, data=True))
            assert math.isclose(total, graph.nodes[node]["grad"], rel_tol=1e-9, abs_tol=1e-12), node
    tanh = next(n for n in graph if trace.op[n] == "tanh")
    (child, _, local), = graph.in_edges(tanh, data="local_grad")
    assert local == pytest.approx(1 - graph.nodes[tanh]["data"] ** 2)


# --------------------------------------------------------------------------- inferring what a script does not say


@pytest.mark.parametrize("data, children, local, method, expected", [
    (5.0, (2.0, 3.0), (1, 1), None, ("+", None)),
    (6.0, (2.0, 3.0), (3.0, 2.0), None, ("*", None)),
    (1.0, (1.0, 1.0), (1.0, 1.0), None, ("*", None)),  # 1 * 1: the data tells it from 1 + 1
    (2.0, (1.0, 1.0), (1.0, 1.0), None, ("+", None)),
    (0.5, (4.0,), (-0.5 * 4.0**-1.5,), None, ("**", -0.5)),  # exponent recovered from the numbers
    (0.25, (4.0,), (-1 * 4.0**-2,), None, ("**", -1.0)),
    (9.0, (3.0,), (6.0,), None, ("**", 2.0)),
    (math.exp(0.3), (0.3,), (math.exp(0.3),), None, ("exp", None)),
    (math.log(0.3), (0.3,), (1 / 0.3,), None, ("log", None)),
    (0, (-1.5,), (0.0,), None, ("relu", None)),
    (2.5, (2.5,), (1.0,), "relu", ("relu", None)),
    (0, (0,), (0,), "__pow__", ("**", 2.0)),  # relu(0) or 0 ** 2? the method decides...
    (0, (0,), (0.0,), "relu", ("relu", None)),
])
def test_infer_op(data, children, local, method, expected):
    exponent = 2 if method == "__pow__" else None  # ...and __pow__'s argument gives the exponent
    assert infer_op(data, children, local, method, exponent) == expected


def test_position_losses_need_the_spec_shape():
    # 0: a, 1: b, 2: a*b -- no sum of per-position losses
    assert find_position_losses(["leaf", "leaf", "*"], [(), (), (0, 1)], [2.0, 3.0, 6.0], [0, 1, 2], 2) == ()
    # l0 (node 2 = a*b), l1 (node 4 = c*c), zero (5), 6 = l0 + 0, 7 = 6 + l1, third (8), 9 = 7 * third
    ops = ["leaf", "leaf", "*", "leaf", "*", "leaf", "+", "+", "leaf", "*"]
    children = [(), (), (0, 1), (), (3, 3), (), (2, 5), (6, 4), (), (7, 8)]
    data = [2.0, 3.0, 6.0, 2.0, 4.0, 0, 6.0, 10.0, 0.5, 5.0]
    assert find_position_losses(ops, children, data, list(range(10)), 9) == (2, 4)
    made_backwards = [0, 1, 9, 3, 4, 5, 6, 7, 8, 10]  # l0 made after l1: not the terms of sum(losses)
    assert find_position_losses(ops, children, data, made_backwards, 9) == ()


# --------------------------------------------------------------------------- running as the user's own code


def write_script(folder, body):
    path = folder / "user_script.py"
    path.write_text(textwrap.dedent(body))
    return path


def test_the_script_runs_in_its_own_folder_with_its_own_arguments(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = write_script(tmp_path, """
        import json, os, sys
        print(json.dumps({"cwd": os.getcwd(), "argv": sys.argv, "name": __name__, "path0": sys.path[0], "file": __file__}))
    """)
    for cwd, expected in ((None, tmp_path), (elsewhere, elsewhere)):
        with pytest.raises(ScriptError) as info:
            run_script(script, ["a b", "c"], cwd=cwd)
        seen = json.loads(info.value.output.splitlines()[0])
        assert seen == {"cwd": str(expected), "argv": [str(script), "a b", "c"], "name": "__main__",
                        "path0": str(tmp_path), "file": str(script)}


def test_a_script_that_raises_shows_its_own_traceback(tmp_path, scripts):
    script = write_script(tmp_path, f"""
        import sys
        sys.path.insert(0, {str(scripts.folder)!r})
        from micrograd_engine import Value

        def forward(x):
            return check(x * 2)

        def check(v):
            try:
                {{}}["missing"]
            except KeyError as e:
                raise ValueError(f"bad value {{v.data}}") from e

        forward(Value(1.5))
    """)
    with pytest.raises(ScriptError) as info:
        record_script(script)
    error = info.value
    assert error.kind == "raised"
    assert str(error) == "user_script.py raised ValueError: bad value 3.0 before calling backward()"
    # exactly what `python user_script.py` prints, chained cause included: none of our frames
    direct = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True)
    assert error.script_traceback == direct.stderr
    assert "script_runner" not in error.script_traceback and "runpy" not in error.script_traceback


def test_an_error_inside_the_scripts_own_backward_is_the_scripts(tmp_path):
    script = write_script(tmp_path, """
        class Value:
            def __init__(self, data):
                self.data, self.grad, self._children, self._local_grads = data, 0, (), ()
            def __add__(self, other):
                return Value(self.data + other.data)
            def backward(self):
                raise RuntimeError("backward is not written yet")

        (Value(1.0) + Value(2.0)).backward()
    """)
    with pytest.raises(ScriptError) as info:
        record_script(script)
    direct = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True)
    assert info.value.script_traceback == direct.stderr
    assert "RuntimeError: backward is not written yet" in str(info.value)


@pytest.mark.parametrize("body, kind, fragment", [
    ("""
        import sys
        sys.path.insert(0, FIXTURES)
        from micrograd_engine import Value
        loss = (Value(2.0) * Value(3.0)).relu()
        print("computed", loss.data)
     """, "finished", "finished without calling backward() on its Value class"),
    ("print('no autograd here')\n", "finished", "none found"),
    ("import sys\nsys.exit(3)\n", "exited", "exited with status 3 without calling backward()"),
    ("import os\nos._exit(4)\n", "exited", "ended with status 4 without calling backward()"),
    ("x = input()\n", "raised", "raised EOFError"),  # the script gets no stdin of ours
])
def test_scripts_that_never_call_backward(tmp_path, scripts, body, kind, fragment):
    script = write_script(tmp_path, textwrap.dedent(body).replace("FIXTURES", repr(str(scripts.folder))))
    with pytest.raises(ScriptError) as info:
        record_script(script)
    assert info.value.kind == kind
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_script_and_folder(tmp_path):
    with pytest.raises(ScriptError, match="script not found"):
        record_script(tmp_path / "nope.py")
    with pytest.raises(ScriptError, match="directory"):
        record_script(tmp_path)
    script = write_script(tmp_path, "pass\n")
    with pytest.raises(ScriptError, match="working directory not found"):
        record_script(script, cwd=tmp_path / "nowhere")


def test_a_script_past_its_timeout_is_stopped(tmp_path):
    pid_file = tmp_path / "pid"
    script = write_script(tmp_path, f"""
        import os
        open({str(pid_file)!r}, "w").write(str(os.getpid()))
        print("working...", flush=True)
        while True:
            pass
    """)
    with pytest.raises(ScriptError) as info:
        record_script(script, timeout=1)
    assert info.value.kind == "timeout"
    assert "did not reach backward() within 1 s" in str(info.value)
    assert "working..." in info.value.output
    with pytest.raises(ProcessLookupError):  # the script's process is gone, not left spinning
        os.kill(int(pid_file.read_text()), 0)


def test_should_stop_cancels_a_running_script(tmp_path):
    script = write_script(tmp_path, "print('started', flush=True)\nwhile True:\n    pass\n")
    calls = []

    def stop_after_a_few_looks():
        calls.append(1)
        return len(calls) >= 3

    with pytest.raises(ScriptError) as info:
        record_script(script, timeout=600, should_stop=stop_after_a_few_looks)
    assert info.value.kind == "cancelled" and len(calls) == 3


def test_a_value_class_without_readable_children(tmp_path):
    script = write_script(tmp_path, """
        class Value:
            def __init__(self, data, parents=()):
                self.data, self.grad, self.parents = data, 0, parents
            def __mul__(self, other):
                return Value(self.data * other.data, (self, other))
            def backward(self):
                self.grad = 1

        (Value(2.0) * Value(3.0)).backward()
    """)
    with pytest.raises(ScriptError) as info:
        record_script(script)
    assert info.value.kind == "unsupported"
    assert "neither _children and _local_grads nor _prev and _backward" in str(info.value)


def test_capture_is_plain_data_and_tokens_can_be_inferred(tuples_capture, scripts):
    capture = tuples_capture  # run_script's result for the tuples script (see conftest.py)
    trace = trace_from_capture(capture, script=str(scripts.tuples))
    assert trace.num_nodes == len(capture["op"])
    assert {type(x) for x in capture["data"]} == {float}
    # a script whose tokens were local to a function that has returned: tokenized as microgpt does
    assert trace_from_capture(dict(capture, tokens=None)).tokens == trace.tokens == tuple(capture["tokens"])
    assert trace_from_capture(dict(capture, tokens=None, uchars=None)).token_labels == ()


# --------------------------------------------------------------------------- the command line


def test_cli_record_script(cli, tmp_path, small_data, scripts, built_in):
    out = tmp_path / "step.graphml"
    result = cli("record", "--script", scripts.slots, "--script-args", f"--steps 2 {small_data}", "--json", "-o", out)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    ref = built_in("original")
    assert (summary["doc"], summary["nodes"], summary["edges"], summary["loss"]) == (ref.doc, ref.num_nodes, ref.num_edges, ref.loss)
    assert summary["script"] == str(scripts.slots)
    graphml = out.read_text()
    assert graphml.count("<node ") == ref.num_nodes and graphml.count("<edge ") == ref.num_edges


def test_cli_errors_from_scripts(cli, tmp_path):
    script = write_script(tmp_path, "def f():\n    return 1 / 0\n\nf()\n")
    result = cli("record", "--script", script)
    assert result.returncode == 2
    first, *rest = result.stderr.splitlines()
    assert first.startswith("microgpt-viz: error: user_script.py raised ZeroDivisionError")
    assert "the script's own traceback" in first
    assert "\n".join(rest) == subprocess.run([sys.executable, str(script)], capture_output=True, text=True).stderr.rstrip()
    # options of the built-in model do not mix with a script: one line
    result = cli("record", "--script", script, "--data", "names.txt")
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "--data does not apply to --script" in result.stderr
    result = cli("record", "--script", tmp_path / "missing.py")
    assert result.returncode == 2 and result.stderr.strip() == f"microgpt-viz: error: script not found: {tmp_path / 'missing.py'}"


def test_cli_export_script(cli, tmp_path, small_data, scripts):
    out = tmp_path / "cone.dot"
    result = cli("export", "--script", scripts.tuples, "--script-args", str(small_data), "--token", "1", "-o", out)
    assert result.returncode == 0, result.stderr
    dot = out.read_text()
    assert "gpt" in dot and "softmax" in dot
