"""DOT / SVG / PDF / PNG export of views, and the `microgpt-viz export` command."""
import re

import pytest

from core.engine.config import preset
from core.views.export import MAX_NODES, ViewTooLarge, render_diagram, to_dot
from core.views.layout import GraphvizNotFound, quote, run_dot
from core.engine.train import Trainer
from core.views.view import View
from microgpt_viz.cli.main import main


@pytest.fixture(scope="module")
def trace(docs):
    return Trainer(docs, preset("latest")).record("emma")


def fill_of(dot, node_id):
    line = next(l for l in dot.splitlines() if l.strip().startswith(f'"{node_id}" ['))
    return re.search(r'fillcolor="(#[0-9a-f]{6})"', line).group(1)


def views(trace):
    yield View.for_token(trace, 2)
    yield View(trace, level="vector")
    yield View.for_token(trace, 1, level="scalar").focus("pos1/layer0/attn/head2")
    yield View.for_token(trace, 3).expand_to_depth(2)


@pytest.mark.parametrize("theme", ["light", "dark", "slides"])
@pytest.mark.parametrize("rankdir", ["TB", "LR"])
def test_dot_output_is_accepted_by_graphviz(trace, theme, rankdir):
    for view in views(trace):
        rendered = view.render()
        source = to_dot(rendered, theme, rankdir, "grad", title='a "quoted" title \\ with a backslash')
        svg = run_dot(source, "svg").decode("utf-8")
        assert "<svg" in svg
        # every visible node is drawn (its id is the SVG node title)
        assert svg.count('class="node"') == len(rendered.nodes)


def test_values_are_micrograd_records_with_op_data_grad(trace):
    rendered = View.for_token(trace, 1, level="scalar").focus("pos1/softmax").render()
    dot = to_dot(rendered)
    value = next(n for n in rendered.nodes if n.op == "exp")
    line = next(l for l in dot.splitlines() if l.strip().startswith(f'"{value.id}" ['))
    assert 'shape="record"' in line
    assert f"data {value.data:.4g}" in line and f"grad {value.grad:.4g}" in line
    # local gradients label single scalar edges
    edge = next(e for e in rendered.edges if e.local_grad is not None)
    line = next(l for l in dot.splitlines() if l.strip().startswith(f'"{edge.source}" -> "{edge.target}"'))
    assert f"label={quote(f'{edge.local_grad:.3g}')}" in line


def test_groups_show_their_counts_and_vectors_are_stacked(trace):
    rendered = View.for_token(trace, 2, level="vector").render()
    dot = to_dot(rendered, "light")
    fc1 = rendered.node("pos2/layer0/mlp/fc1#*@0")
    line = next(l for l in dot.splitlines() if l.strip().startswith(f'"{fc1.id}" ['))
    assert 'shape="box3d"' in line and "1024 × *" in line
    loss = rendered.node("pos2/loss")
    assert loss.outputs == 1  # a position's loss is one number, made by a few scalar ops
    line = next(l for l in dot.splitlines() if l.strip().startswith('"pos2/loss" ['))
    assert f"1 value · {loss.ops} ops" in line


def test_colours_diverge_around_zero(trace):
    rendered = View.for_token(trace, 2, level="scalar").focus("pos2/layer0/attn/head0/softmax").render()
    dot = to_dot(rendered, "light", color_by="grad")
    values = [n for n in rendered.nodes if n.kind == "value" and n.grad]
    positive = max(values, key=lambda n: n.grad)
    negative = min(values, key=lambda n: n.grad)
    assert positive.grad > 0 > negative.grad
    red, blue = fill_of(dot, positive.id), fill_of(dot, negative.id)
    assert int(red[1:3], 16) > int(red[5:7], 16)  # more red than blue
    assert int(blue[5:7], 16) > int(blue[1:3], 16)
    data_dot = to_dot(rendered, "light", color_by="data")
    assert data_dot != dot
    assert "fill: |grad|" in to_dot(rendered, "light", color_by="absgrad")


def test_too_large_views_are_refused_with_advice(trace):
    rendered = View(trace, level="scalar").render()
    assert len(rendered.nodes) > MAX_NODES
    with pytest.raises(ViewTooLarge, match="--scope"):
        to_dot(rendered)


def test_binary_formats_without_graphviz_say_how_to_install_it(trace, monkeypatch):
    source = to_dot(View.for_token(trace, 0).render())
    monkeypatch.setenv("PATH", "")
    assert render_diagram(source, "dot") == source.encode("utf-8")  # DOT needs no Graphviz
    for fmt in ("svg", "pdf", "png"):
        with pytest.raises(GraphvizNotFound, match="apt-get install graphviz"):
            render_diagram(source, fmt)


def test_export_command_writes_every_format(data_file, tmp_path, capsys):
    magic = {"svg": b"<?xml", "pdf": b"%PDF", "png": b"\x89PNG", "dot": b"digraph"}
    for fmt, head in magic.items():
        out = tmp_path / f"t2.{fmt}"
        code = main(["export", "--data", str(data_file), "--doc", "emma", "--token", "2", "--theme", "slides", "-o", str(out)])
        assert code == 0, capsys.readouterr().err
        assert out.read_bytes().startswith(head)
    # --format wins over the suffix
    odd = tmp_path / "really-dot.svg"
    assert main(["export", "--data", str(data_file), "--doc", "bo", "--format", "dot", "-o", str(odd)]) == 0
    assert odd.read_text().startswith("digraph")
    # DOT goes to stdout without -o, and nothing else does
    capsys.readouterr()
    assert main(["export", "--data", str(data_file), "--doc", "bo"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("digraph") and out.rstrip().endswith("}")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--doc", "emma", "--token", "5"], "--token 5 is out of range"),
        (["--doc", "emma", "--token", "2", "--scope", "pos2/layer7"], "unknown scope"),
        (["--doc", "emma", "--scope", "pos1/layer0/attn/head0", "--level", "scalar", "-o", "x.png"], None),
        (["--doc", "emma", "--level", "scalar", "-o", "{tmp}/big.svg"], "visible nodes"),
        (["--doc", "emma", "-o", "{tmp}/x.jpeg"], "cannot tell the format"),
        (["--doc", "emma", "--format", "png"], "give -o"),
        (["--doc", "emma", "--token", "-1"], "must be >= 0"),
        (["--doc", "emma", "--level", "vector", "--depth", "2"], "not allowed with"),
    ],
)
def test_export_command_bad_input_is_one_line_and_exit_2(data_file, tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code = main(["export", "--data", str(data_file)] + args)
    err = capsys.readouterr().err
    if message is None:  # a valid request, for contrast
        assert code == 0, err
        return
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_acceptance_emma_token_2_module_diagram(names_path, tmp_path, capsys):
    out = tmp_path / "t2.svg"
    code = main(["export", "--data", str(names_path), "--doc", "emma", "--token", "2", "--format", "svg", "--theme", "slides", "-o", str(out)])
    assert code == 0
    summary = capsys.readouterr().out
    nodes = int(re.search(r"(\d+) nodes", summary).group(1))
    assert 5 <= nodes <= 400
    svg = out.read_text()
    assert svg.count('class="node"') == nodes and "softmax" in svg


def edge_label_keys(dot):
    """The attribute names that carry edge labels in DOT source: label, xlabel or both."""
    return set(re.findall(r'^\s*"[^"]*" -> "[^"]*" \[(?:[^\]]*, )?(x?label)=', dot, flags=re.M))


def test_edge_labels_get_room_between_the_ranks_unless_anchors_hold_open_siblings(trace):
    # a softmax close-up: labels of their own, which dot keeps off the boxes' borders
    closeup = to_dot(View.for_token(trace, 2, level="scalar").focus("pos2/layer0/attn/head2/softmax").render())
    assert edge_label_keys(closeup) == {"label"}
    # a cone holds its heads in order with anchors, which the ranks labels add would undo
    cone = to_dot(View.for_token(trace, 2).render())
    assert 'order pos2/layer0/attn/head0' in cone and edge_label_keys(cone) == {"xlabel"}
