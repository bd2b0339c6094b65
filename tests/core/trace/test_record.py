import math
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from core.engine.config import preset
from core.engine.data import load_docs
from core.trace.record import KINDS
from core.engine.train import Trainer


@pytest.fixture(scope="module")
def trainer(small_docs):
    return Trainer(small_docs, preset("latest"))


@pytest.fixture(scope="module")
def trace(trainer):
    return trainer.record("emma")


def test_every_node_has_the_documented_attributes(trace):
    keys = {"op", "data", "grad", "scope", "pos", "kind", "param", "row", "col", "file", "line", "order"}
    for node, attrs in trace.graph.nodes(data=True):
        assert keys <= set(attrs), node
        assert attrs["kind"] in KINDS
        assert attrs["order"] == trace.num_nodes - 1 - node
    assert trace.graph.nodes[trace.loss_node]["scope"] == "loss"
    assert trace.graph.nodes[trace.loss_node]["kind"] == "loss"


def test_parameters_carry_their_name_and_index(trainer, trace):
    graph = trace.graph
    lm = [n for n, a in graph.nodes(data=True) if a["param"] == "lm_head"]
    assert len(lm) == trainer.tokenizer.vocab_size * trainer.config.n_embd
    attrs = graph.nodes[lm[0]]
    assert attrs["kind"] == "param" and attrs["op"] == "param" and attrs["scope"] == "params/lm_head"
    assert attrs["data"] == trainer.model.state_dict["lm_head"][attrs["row"]][attrs["col"]].data
    # only the rows of tokens the doc reads are reachable in wte
    rows = {graph.nodes[n]["row"] for n in trace.param_nodes["wte"]}
    assert rows == set(trainer.tokenizer.encode("emma")[:-1])


def test_scopes_positions_and_source_lines(trace):
    graph = trace.graph
    scopes = set(trace.scope)
    assert "pos3/layer0/attn/head2/softmax" in scopes
    assert "pos0/layer0/mlp/fc1" in scopes and "pos4/lm_head" in scopes and "pos2/loss" in scopes
    for node, attrs in graph.nodes(data=True):
        if attrs["scope"].startswith("pos"):
            assert attrs["pos"] == int(attrs["scope"].split("/")[0][3:])
            assert attrs["file"].endswith(("model.py", "train.py")) and attrs["line"] > 0
    softmax_exp = next(n for n, a in graph.nodes(data=True) if a["op"] == "exp" and a["scope"].endswith("head0/softmax"))
    source = Path(graph.nodes[softmax_exp]["file"]).read_text().splitlines()
    assert ".exp()" in source[graph.nodes[softmax_exp]["line"] - 1]


def test_edges_carry_local_gradients_and_keep_squares(trace):
    graph = trace.graph
    squares = [n for n in graph if graph.nodes[n]["op"] == "*" and graph.in_degree(n) == 2 and len(set(graph.predecessors(n))) == 1]
    assert squares, "rmsnorm's x*x should appear as two parallel edges"
    node = squares[0]
    child = next(iter(graph.predecessors(node)))
    assert sorted(graph[child][node]) == [0, 1]
    for key in (0, 1):
        assert graph[child][node][key]["local_grad"] == graph.nodes[child]["data"]
    # grads obey the chain rule: a node's grad is the sum of local_grad * consumer grad
    for n in list(graph)[:2000]:
        total = sum(d["local_grad"] * graph.nodes[v]["grad"] for _, v, d in graph.out_edges(n, data=True))
        if graph.out_degree(n):
            assert math.isclose(total, graph.nodes[n]["grad"], rel_tol=1e-9, abs_tol=1e-15)


def test_fast_graph_equals_graph_built_with_the_public_api(trace):
    rebuilt = nx.MultiDiGraph()
    rebuilt.add_nodes_from(trace.graph.nodes(data=True))
    rebuilt.add_edges_from(trace.graph.edges(keys=True, data=True))
    assert nx.utils.graphs_equal(rebuilt, trace.graph)
    assert sorted(rebuilt.in_degree()) == sorted(trace.graph.in_degree())
    assert rebuilt.number_of_edges() == trace.num_edges


def test_trace_is_a_frozen_snapshot(trainer):
    trace = trainer.record()
    data_before = trace.data.copy()
    node_data = dict(trace.graph.nodes(data="data"))
    for _ in range(3):
        trainer.step()
    assert np.array_equal(trace.data, data_before)
    assert dict(trace.graph.nodes(data="data")) == node_data
    with pytest.raises(nx.NetworkXError):
        trace.graph.add_node(-5)
    with pytest.raises(ValueError):
        trace.data[0] = 1.0
    trainer.reset()


def test_attention_tables(trace, trainer):
    c = trainer.config
    T = trace.positions
    assert trace.attention_weights.shape == (c.n_layer, c.n_head, T, T)
    for q in range(T):
        row = trace.attention_weights[0, 1, q]
        assert np.isnan(row[q + 1 :]).all()
        assert row[: q + 1].sum() == pytest.approx(1.0)
        node = trace.attention_nodes[0, 1, q, 0]
        assert trace.graph.nodes[node]["scope"] == f"pos{q}/layer0/attn/head1/softmax"
        assert trace.graph.nodes[node]["data"] == row[0]
        assert trace.attention_weight_grads[0, 1, q, 0] == trace.graph.nodes[node]["grad"]


def test_position_losses_average_to_the_loss(trace):
    assert trace.token_labels == ("BOS", "e", "m", "m", "a", "BOS")
    assert sum(trace.position_losses) / trace.positions == pytest.approx(trace.loss)
    for t, node in enumerate(trace.position_loss_nodes):
        assert trace.graph.nodes[node]["scope"] == f"pos{t}/loss"
        assert trace.graph.nodes[node]["data"] == trace.position_losses[t]


def test_graphml_round_trip(tmp_path, small_docs):
    # a narrow model: the same kinds of nodes and attributes as any step, in a file a tenth the size
    trace = Trainer(small_docs, preset("latest", n_embd=4, n_head=2)).record("emma")
    path = tmp_path / "t.graphml"
    trace.write_graphml(path)
    back = nx.read_graphml(path, node_type=int, force_multigraph=True)
    assert back.number_of_nodes() == trace.num_nodes
    assert back.number_of_edges() == trace.num_edges
    assert back.nodes[trace.loss_node]["data"] == trace.loss


@pytest.mark.parametrize("name, doc, nodes, edges", [
    ("original", "yuheng", 60095, 107508), ("original", "diondre", 68563, 123538),
    ("latest", "yuheng", 59647, 107060), ("latest", "diondre", 68051, 123026),
])
def test_reference_graph_sizes(names_path, name, doc, nodes, edges):
    trainer = Trainer(load_docs(names_path), preset(name))
    assert trainer.docs[:2] == ["yuheng", "diondre"]
    trace = trainer.record(doc)
    assert (trace.num_nodes, trace.num_edges) == (nodes, edges)
