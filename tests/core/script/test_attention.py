"""Attention found in a user's script's graph by its structure (core/script/attention.py).

The tuples fixture is microgpt from the spec, so its tables must equal the built-in recorder's
to the bit; the other two styles must give a causal layers x heads grid whose rows are softmaxes;
a two-layer copy must put each row in its layer.
"""
import json
import shutil

import numpy as np
import pytest

from core.engine.config import preset
from core.engine.data import load_docs
from core.engine.train import Trainer
from core.script.run import record_script

TABLES = ("attention_weights", "attention_logits", "attention_weight_grads", "attention_nodes")


def same_table(a, b):
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def test_the_spec_script_finds_the_built_in_recorders_attention_tables(script_traces, built_in):
    mine, ref = script_traces("tuples"), built_in("latest")
    for table in TABLES:
        assert same_table(getattr(mine, table), getattr(ref, table)), table


@pytest.mark.parametrize("style", ["slots", "micrograd"])
def test_every_style_gives_a_causal_grid_of_softmax_rows(style, script_traces):
    trace = script_traces(style)
    weights, nodes = trace.attention_weights, trace.attention_nodes
    n_pos = trace.positions
    assert weights.shape == (1, 4, n_pos, n_pos)
    above = np.triu(np.ones((n_pos, n_pos), dtype=bool), k=1)
    assert np.isnan(weights[..., above]).all() and (nodes[..., above] == -1).all()
    assert np.allclose(np.nansum(weights, axis=-1), 1.0)
    shown = nodes[nodes >= 0]
    assert np.array_equal(trace.data[shown], weights[nodes >= 0])
    assert all(trace.op[i] == "*" for i in shown)


def test_a_two_layer_copy_puts_each_row_in_its_layer(scripts, small_data, tmp_path):
    source = scripts.tuples.read_text()
    one_layer = "n_embd, n_head, n_layer, block_size = 16, 4, 1, 16"
    assert one_layer in source
    (tmp_path / "two_layers.py").write_text(source.replace(one_layer, one_layer.replace(", 1, 16", ", 2, 16")))
    mine = record_script(tmp_path / "two_layers.py", [str(small_data)])
    ref = Trainer(load_docs(small_data), preset("latest", n_layer=2)).record()
    assert mine.attention_weights.shape[:2] == (2, 4)
    for table in TABLES:
        assert same_table(getattr(mine, table), getattr(ref, table)), table


def test_a_script_without_attention_has_empty_tables(script_traces):
    trace = script_traces("mlp")
    assert trace.attention_weights.shape == (0, 0, 0, 0)
    assert trace.summary()["attention_layers"] == 0 and trace.summary()["attention_heads"] == 0


def test_record_json_reports_attention_for_scripts_and_the_built_in_model(cli, scripts, small_data, tmp_path):
    shutil.copy(small_data, tmp_path / "input.txt")
    script = cli("record", "--script", scripts.tuples, "--cwd", tmp_path, "--at-backward", 5, "--json")
    assert script.returncode == 0, script.stderr
    built_in = cli("record", "--data", small_data, "--preset", "latest", "--at-step", 4, "--json")
    assert built_in.returncode == 0, built_in.stderr
    for summary in (json.loads(script.stdout), json.loads(built_in.stdout)):
        assert (summary["attention_layers"], summary["attention_heads"]) == (1, 4)
    assert json.loads(script.stdout)["step"] == 4
