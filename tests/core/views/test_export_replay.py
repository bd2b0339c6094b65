"""Exporting a view at a position of backward: `export --backward-step K` and `--frames N`."""
import html
import json
import re
import shutil
import struct

import numpy as np
import pytest

from core.engine.config import preset
from core.engine.data import load_docs
from core.views.export import colour_scale, to_dot
from core.views.export_replay import replay_sources
from core.views.layout import run_dot
from core.debug.replay import BackwardReplay, describe_position, regraded, trace_at
from core.engine.train import Trainer
from core.views.view import View
from microgpt_viz.cli.main import main

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


@pytest.fixture(scope="module")
def trace(docs):
    trainer = Trainer(docs, preset("latest"))
    trainer.step()  # latest at step 1: gradients flow through every block
    return trainer.record("emma")


@pytest.fixture(scope="module")
def softmax_view(trace):
    return View.for_token(trace, 2, level="scalar").focus("pos2/layer0/attn/head2/softmax").render()


def fills(dot):
    """Visible node id -> its fill colour, from DOT text."""
    found = {}
    for line in dot.splitlines():
        match = re.match(r'\s*"([^"]+)" \[.*fillcolor="(#[0-9a-f]{6})"', line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def heading(dot):
    """The lines of a diagram's heading: a plain label, or the fixed-size HTML one of a replay frame."""
    plain = re.search(r'^  label="(.*)";$', dot, re.M)
    if plain:
        return plain.group(1).split("\\l")[:-1]
    cell = re.search(r'^  label=<<TABLE .*FIXEDSIZE="TRUE".*><TR><TD [^>]*>(.*)</TD></TR></TABLE>>;$', dot, re.M)
    return [html.unescape(line) for line in cell.group(1).split('<BR ALIGN="LEFT"/>')[:-1]]


def without_heading_and_sizes(dot):
    """A diagram's boxes and edges as drawn, leaving out the heading and fixed box sizes."""
    lines = [line for line in dot.splitlines() if not line.startswith("  label=")]
    return [re.sub(r', width="[\d.]+", height="[\d.]+", fixedsize="true"', "", line) for line in lines]


# --------------------------------------------------------------------------- the frames themselves


def test_at_the_start_only_the_loss_has_a_grad(trace):
    rendered = View(trace, level="vector").render()
    frame = regraded(rendered, trace_at(trace, 0))
    assert np.count_nonzero(frame.trace.grad) == 1 and frame.trace.grad[trace.loss_node] == 1.0
    for n in frame.nodes:
        holds_loss = trace.loss_node in n.members
        assert n.max_abs_grad == (1.0 if holds_loss else 0.0), n.id
        if n.grad is not None:
            assert n.grad == (1.0 if n.node == trace.loss_node else 0.0)


def test_at_the_end_the_frame_is_the_recorded_step(trace, softmax_view):
    frame = regraded(softmax_view, trace_at(trace, trace.num_nodes))
    assert np.array_equal(frame.trace.grad, trace.grad)
    shown = [(n.id, n.grad, n.max_abs_grad, n.nonfinite) for n in frame.nodes]
    assert shown == [(n.id, n.grad, n.max_abs_grad, n.nonfinite) for n in softmax_view.nodes]
    for theme in ("light", "slides"):
        assert to_dot(frame, theme, color_by="grad") == to_dot(softmax_view, theme, color_by="grad")


def test_a_middle_frame_holds_partial_sums(trace, softmax_view):
    members = np.unique(np.concatenate([n.members for n in softmax_view.nodes]))
    replay = BackwardReplay(trace)
    first, last = replay.span(members)
    middle = (first + last) // 2
    grads = trace_at(trace, middle).grad[members]
    assert np.any(grads == 0) and np.any(grads != 0)  # some reached, some not yet
    # before `first` nothing has reached these values, after `last` all of them are final
    assert not trace_at(trace, first).grad[members].any()
    assert trace_at(trace, first + 1).grad[members].any()
    assert np.array_equal(trace_at(trace, last).grad[members], trace.grad[members])
    assert not np.array_equal(trace_at(trace, last - 1).grad[members], trace.grad[members])


def test_frames_spread_over_the_span_that_changes_the_view(trace, softmax_view):
    members = np.unique(np.concatenate([n.members for n in softmax_view.nodes]))
    replay = BackwardReplay(trace)
    first, last = replay.span(members)
    assert 0 < first < last < trace.num_nodes  # a softmax of position 2 changes during a sliver of backward
    frames = replay.frames(5, members)
    assert frames[0] == first and frames[-1] == last and frames == sorted(frames)
    assert replay.frames(5) == [round(i * trace.num_nodes / 4) for i in range(5)]  # no nodes: the whole backward
    with pytest.raises(ValueError, match="at most"):
        replay.frames(last - first + 2, members)


def test_titles_say_where_backward_stands(trace):
    n = trace.num_nodes
    assert describe_position(trace, 0) == f"backward replay: 0 of {n} nodes visited (0.0%), only the loss has its grad of 1"
    assert describe_position(trace, n).endswith("backward done: the recorded grads")
    middle = describe_position(trace, 100)
    assert f"next #{n - 101} in {trace.scope[n - 101]}" in middle
    with pytest.raises(ValueError):
        describe_position(trace, n + 1)


@needs_dot
def test_every_frame_has_the_same_layout_and_colour_scale(trace, softmax_view):
    members = np.unique(np.concatenate([n.members for n in softmax_view.nodes]))
    positions = BackwardReplay(trace).frames(4, members)
    sources = replay_sources(softmax_view, trace, positions, "slides", "TB", "absgrad", "a title")

    def boxes(source):
        laid_out = json.loads(run_dot(source, "json0"))
        return {o["name"]: (o["pos"], o["width"], o["height"]) for o in laid_out["objects"] if "pos" in o}, laid_out["bb"]

    layouts = [boxes(s) for s in sources]
    assert all(layout == layouts[0] for layout in layouts)
    # without fixed sizes `grad 0` and `grad -0.0002956` would make boxes of different widths
    free = [to_dot(regraded(softmax_view, trace_at(trace, k)), "slides", "TB", "absgrad") for k in (positions[0], positions[-1])]
    assert boxes(free[0]) != boxes(free[1])
    scale = colour_scale(softmax_view, "absgrad")
    for source, k in zip(sources, positions):
        lines = heading(source)
        assert lines[0] == "a title" and lines[1] == describe_position(trace, k)
        assert lines[2:2 + len(scale.legend_lines())] == scale.legend_lines()  # the finished step's colour scale in every frame
    own = colour_scale(regraded(softmax_view, trace_at(trace, positions[0])), "absgrad")
    assert own.legend_line() != scale.legend_line()  # not the first frame's own scale
    first, last = fills(sources[0]), fills(sources[-1])
    assert len(set(first.values())) == 1  # nothing has reached the view yet: one neutral fill
    assert len(set(last.values())) > 3


# --------------------------------------------------------------------------- the command


def recorded(data_file, preset_name):
    """The trace `export --data FILE --doc emma --preset P` records (step 0)."""
    return Trainer(load_docs(data_file), preset(preset_name)).record("emma")


def test_cli_backward_step(data_file, capsys):
    common = ["export", "--data", str(data_file), "--doc", "emma", "--preset", "latest", "--level", "vector"]
    assert main(common + ["--color-by", "absgrad"]) == 0
    plain = capsys.readouterr().out
    step = recorded(data_file, "latest")
    n = step.num_nodes
    assert main(common + ["--backward-step", str(n)]) == 0  # absgrad is the replay's default
    done = capsys.readouterr().out
    # the end of backward is the plain export with one more heading line
    assert without_heading_and_sizes(done) == without_heading_and_sizes(plain)
    assert heading(done) == [heading(plain)[0], describe_position(step, n), *heading(plain)[1:]]
    assert main(common + ["--backward-step", "0"]) == 0
    start = capsys.readouterr().out
    loss_box = View(step, level="vector").render().visible_id(step.loss_node)
    others = {f for i, f in fills(start).items() if i != loss_box}
    assert len(others) == 1 and fills(start)[loss_box] not in others  # only the loss is coloured
    assert len(set(fills(done).values())) > 5
    assert heading(start)[1].startswith(f"backward replay: 0 of {n} nodes visited (0.0%)")


def test_cli_backward_step_out_of_range(data_file, capsys):
    n = recorded(data_file, "original").num_nodes  # the default preset's step
    assert main(["export", "--data", str(data_file), "--doc", "emma", "--backward-step", str(n + 1)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"--backward-step {n + 1} is out of range" in err and f"K runs from 0 to {n}" in err
    assert main(["export", "--data", str(data_file), "--doc", "emma", "--backward-step", str(n)]) == 0
    assert main(["export", "--data", str(data_file), "--doc", "emma", "--backward-step", "-1"]) == 2


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@needs_dot
def test_cli_frames_write_a_deck(data_file, tmp_path, capsys):
    out = tmp_path / "deck.png"
    args = ["export", "--data", str(data_file), "--doc", "emma", "--preset", "latest", "--token", "2",
            "--scope", "pos2/layer0/attn/head2/softmax", "--level", "scalar", "--theme", "slides", "--frames", "3", "-o", str(out)]
    assert main(args) == 0
    said = capsys.readouterr().out
    frames = [tmp_path / f"deck-{i:03d}.png" for i in range(3)]
    assert said.startswith(f"wrote 3 frames, {frames[0]} ... {frames[-1]}")
    assert not out.exists()
    images = [f.read_bytes() for f in frames]
    assert len(set(images)) == 3  # each frame shows another moment
    assert len({png_size(image) for image in images}) == 1  # one layout, one canvas


def test_cli_frame_errors(data_file, tmp_path, capsys):
    base = ["export", "--data", str(data_file), "--doc", "emma"]
    blocker = tmp_path / "notes.txt"  # a file where the output folder would go
    blocker.write_text("")
    for extra, fragment in (
        (["--frames", "3"], "--frames writes one file per frame: give -o FILE"),
        (["--frames", "1", "-o", str(tmp_path / "x.dot")], "at least 2 frames"),
        (["--frames", "3", "--backward-step", "4", "-o", str(tmp_path / "x.dot")], "not allowed with argument"),
        (["--frames", "3", "-o", str(blocker / "deck" / "x.dot")], f"cannot create the output folder {blocker / 'deck'}: {blocker} is a file"),
        (["--token", "1", "--scope", "pos1/loss", "--level", "scalar", "--frames", "100000", "-o", str(tmp_path / "x.dot")], "ask for at most"),
    ):
        assert main(base + extra) == 2, extra
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and fragment in err, (extra, err)
    assert list(tmp_path.glob("x*")) == []


def test_cli_frames_of_a_script_with_ops_the_tape_cannot_replay(scripts, tmp_path, capsys):
    # micrograd's tanh MLP: backward replay needs only the recorded edges, so it works all the same
    out = tmp_path / "mlp.dot"
    assert main(["export", "--script", str(scripts.mlp), "--level", "scalar", "--frames", "2", "-o", str(out)]) == 0
    capsys.readouterr()
    start, end = ((tmp_path / f"mlp-{i:03d}.dot").read_text() for i in (0, 1))
    assert heading(start)[0] == "loss of the whole step  ·  micrograd_mlp.py, first backward()"
    assert "only the loss has its grad of 1" in heading(start)[1] and "backward done" in heading(end)[1]
    assert start != end
