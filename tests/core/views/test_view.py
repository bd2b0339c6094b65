"""Views of a Trace: cones, grouping, filters, expansion, search and navigation."""
import dataclasses
from collections import Counter

import networkx as nx
import numpy as np
import pytest

from core.engine.config import preset
from core.engine.train import Trainer
from core.views.navigate import consumers_of, inputs_of, neighbourhood, path_between
from core.views.search import search
from core.views.view import Filters, View

EVERYTHING = Filters(hide_constants=False, hide_params=False, fold_sums=False)


@pytest.fixture(scope="module")
def trainer(docs):
    return Trainer(docs, preset("original"))


@pytest.fixture(scope="module")
def trace(trainer):
    return trainer.record("emma")


def cone_of(trace, t):
    root = trace.position_loss_nodes[t]
    return nx.ancestors(trace.graph, root) | {root}


def scalar_edges_between(trace, sources, targets):
    targets = set(int(t) for t in targets)
    return sum(1 for u in sources for _, v, _ in trace.graph.out_edges(int(u), keys=True) if v in targets)


def test_module_view_of_a_cone_conserves_edges(trace):
    rendered = View.for_token(trace, 2, level="module", filters=EVERYTHING).render()
    assert 5 <= len(rendered.nodes) <= 400
    members = {n.id: n.members for n in rendered.nodes}
    for edge in rendered.edges:
        assert edge.count == scalar_edges_between(trace, members[edge.source], members[edge.target])
    # every scalar edge of the cone between two different visible nodes is counted exactly once
    cone = cone_of(trace, 2)
    sub = trace.graph.subgraph(cone)
    crossing = sum(1 for u, v, _ in sub.edges(keys=True) if rendered.visible_id(u) != rendered.visible_id(v))
    assert sum(e.count for e in rendered.edges) == crossing


def test_visible_nodes_partition_the_cone(trace):
    rendered = View.for_token(trace, 3, level="vector", filters=EVERYTHING).render()
    everyone = np.concatenate([n.members for n in rendered.nodes])
    assert len(everyone) == len(set(everyone.tolist()))
    assert set(everyone.tolist()) == cone_of(trace, 3)
    for n in rendered.nodes:
        assert n.count == len(n.members)
        assert all(rendered.visible_id(m) == n.id for m in n.members[:5])


def test_expanding_everything_gives_back_the_traces_subgraph(trace):
    t = 2
    rendered = View.for_token(trace, t, level="scalar", filters=EVERYTHING).render()
    assert all(n.kind == "value" and n.count == 1 for n in rendered.nodes)
    cone = cone_of(trace, t)
    assert {n.node for n in rendered.nodes} == cone
    sub = trace.graph.subgraph(cone)
    expected = Counter((f"n{u}", f"n{v}") for u, v, _ in sub.edges(keys=True))
    got = {(e.source, e.target): e.count for e in rendered.edges}
    assert got == dict(expected)
    for e in rendered.edges:
        if e.count == 1:
            u, v = int(e.source[1:]), int(e.target[1:])
            (attrs,) = trace.graph[u][v].values()
            assert e.local_grad == attrs["local_grad"]
        else:  # x * x: both slots feed the same value, no single local gradient
            assert e.local_grad is None


def test_a_later_tokens_cone_reaches_into_earlier_keys_and_values_only(trace):
    scopes = {trace.scope[i] for i in cone_of(trace, 2)}
    assert "pos0/layer0/attn/k" in scopes and "pos0/layer0/attn/v" in scopes
    assert "pos1/layer0/attn/v" in scopes
    assert "pos0/layer0/attn/q" not in scopes and "pos0/lm_head" not in scopes
    assert not any(s.startswith("pos3") for s in scopes)
    first = View.for_token(trace, 0).render()
    assert {n.pos for n in first.nodes} <= {0, -1}


def test_module_level_shows_the_blocks_of_the_model(trace):
    ids = {n.id for n in View.for_token(trace, 2).render().nodes}
    for block in ("pos2/layer0/attn/head2/softmax", "pos2/layer0/mlp/fc1", "pos2/lm_head", "pos2/softmax", "pos2/loss", "params/wte"):
        assert block in ids
    assert "pos0/layer0/attn/k" in ids


def test_filters_hide_constants_and_params_and_fold_sums(trace):
    view = View.for_token(trace, 1, level="scalar").focus("pos1/layer0/attn/head0")
    rendered = view.render()
    members = np.concatenate([n.members for n in rendered.nodes])
    assert not any(trace.kind[m] == "const" for m in members)
    labels = [n.label for n in rendered.nodes]
    assert "* 0.5" in labels  # logits / sqrt(head_dim): the constant folded into the label
    assert any(label.startswith("+ ") for label in labels)  # softmax's `- max`, folded likewise
    sums = [n for n in rendered.nodes if n.op == "sum"]
    assert sums and all(n.expandable for n in sums)
    # attention logits at position 1 sum head_dim = 4 products each
    logit_sums = [n for n in sums if n.scope.endswith("logits")]
    assert logit_sums and all(n.label == "sum(4)" for n in logit_sums)
    no_params = View.for_token(trace, 1, filters=Filters(hide_params=True)).render()
    assert not any(n.id.startswith("params") for n in no_params.nodes)
    assert not any(trace.kind[m] == "param" for n in no_params.nodes for m in n.members)


def test_expanding_a_sum_shows_its_partial_sums(trace):
    view = View.for_token(trace, 1, level="scalar").focus("pos1/layer0/attn/head0/logits")
    folded = next(n for n in view.render().nodes if n.op == "sum" and n.scope.endswith("logits"))
    view.expand(folded.id)
    rendered = view.render()
    assert folded.id not in {n.id for n in rendered.nodes}
    partial = {n.id for n in rendered.nodes if n.op == "+"}
    assert len(partial) == 4  # 0 + a + b + c + d: four additions, the 0 hidden
    view.collapse(folded.id)
    assert folded.id in {n.id for n in view.render().nodes}


def test_expand_collapse_toggle_and_depth(trace):
    view = View.for_token(trace, 2, level="module")
    before = len(view.render().nodes)
    view.expand("pos2/layer0/attn/q")
    assert "pos2/layer0/attn/q" in view.expanded
    ids = {n.id for n in view.render().nodes}
    assert "pos2/layer0/attn/q" not in ids and "pos2/layer0/attn/q#sum@1" in ids
    view.toggle("pos2/layer0/attn/q")
    assert len(view.render().nodes) == before
    view.collapse("pos2")
    assert "pos2" in {n.id for n in view.render().nodes}
    with pytest.raises(ValueError, match="no group"):
        view.expand("pos2/nowhere")
    top = View.for_token(trace, 2).expand_to_depth(0).render()
    assert {n.id for n in top.nodes} == {"pos0", "pos1", "pos2", "params"}
    one = View.for_token(trace, 2).expand_to_depth(1).render()
    assert "pos2/layer0" in {n.id for n in one.nodes}


def test_reveal_makes_a_scalar_visible(trace):
    view = View.for_token(trace, 2)
    target = int(search(trace, "scope:pos2/layer0/attn/head1/softmax op:exp")[0])
    assert view.render().visible_id(target) == "pos2/layer0/attn/head1/softmax"
    assert view.reveal(target) == f"n{target}"
    rendered = view.render()
    assert rendered.visible_id(target) == f"n{target}"
    assert rendered.node(f"n{target}").data == trace.data[target]
    outside = int(search(trace, "scope:pos3/loss")[0])
    with pytest.raises(ValueError, match="outside"):
        view.reveal(outside)


def test_focus_shows_a_scope_and_what_feeds_it(trace):
    view = View.for_token(trace, 2, level="module").focus("pos2/layer0/attn/head2")
    rendered = view.render()
    inside = [n for n in rendered.nodes if n.scope.startswith("pos2/layer0/attn/head2")]
    outside = [n for n in rendered.nodes if not n.scope.startswith("pos2/layer0/attn/head2")]
    assert {n.id for n in inside} == {f"pos2/layer0/attn/head2/{m}" for m in ("logits", "softmax", "out")}
    assert {n.id for n in outside} == {f"pos{p}/layer0/attn/{m}" for p in range(3) for m in "kv"} | {"pos2/layer0/attn/q"}
    # only the 4 q values of head 2 feed it, not all 16
    assert rendered.node("pos2/layer0/attn/q").count == 4
    with pytest.raises(ValueError, match="unknown scope"):
        view.focus("pos2/layer9")


def test_shape_key_is_shared_by_docs_of_the_same_length(trainer):
    a, b, c = trainer.record("olga"), trainer.record("ivan"), trainer.record("noah")
    d = trainer.record("bo")
    key = lambda tr: View.for_token(tr, 2).expand("pos2/layer0/attn/head1").render().shape_key  # noqa: E731
    assert key(a) == key(b) == key(c)
    assert View(a).render().shape_key != View(d).render().shape_key
    hash(key(a))


def test_rebind_keeps_roots_focus_and_expansion(trainer):
    first, second = trainer.record("olga"), trainer.record("ivan")
    view = View.for_token(first, 3).expand("pos3/layer0/attn/q").focus("pos3/layer0/attn")
    before = view.render()
    view.rebind(second)
    after = view.render()
    assert view.trace is second and after.shape_key == before.shape_key
    fresh = View.for_token(second, 3).expand("pos3/layer0/attn/q").focus("pos3/layer0/attn").render()
    assert [n.count for n in after.nodes] == [n.count for n in fresh.nodes]
    short = trainer.record("bo")
    view.rebind(short)  # position 3 does not exist in "bo": the view falls back to its last
    assert view.token == short.positions - 1 and view.render().nodes


def test_search_finds_planted_nan_and_large_grads(trace):
    data, grad = np.array(trace.data), np.array(trace.grad)
    data[123] = np.nan
    grad[456] = 7.5
    grad[789] = -np.inf
    planted = dataclasses.replace(trace, data=data, grad=grad)
    assert search(planted, "nan").tolist() == [123]
    assert 456 in search(planted, "|grad|>5").tolist()
    assert set(search(planted, "grad>5").tolist()) == set(np.flatnonzero(grad > 5).tolist())
    assert search(planted, "inf").tolist() == [789]
    assert search(trace, "nan").size == 0


def test_search_terms_combine(trace):
    exps = search(trace, "op:exp scope:pos2/*/softmax")
    assert len(exps) and all(trace.op[i] == "exp" and trace.scope[i].startswith("pos2/") for i in exps)
    assert all("softmax" in trace.scope[i] for i in search(trace, "scope:softmax"))
    wq = search(trace, "param:attn_wq")
    assert set(wq.tolist()) == set(trace.param_nodes["layer0.attn_wq"])
    assert all(trace.pos[i] == 3 for i in search(trace, "pos:3"))
    assert set(search(trace, "kind:loss").tolist()) == set(trace.position_loss_nodes) | {trace.loss_node}
    small = search(trace, "|grad|<1e-8 kind:intermediate")
    assert all(abs(trace.grad[i]) < 1e-8 for i in small)
    assert set(search(trace, "op:**-0.5").tolist()) <= set(search(trace, "op:**").tolist())
    assert search(trace, f"id:{trace.loss_node}").tolist() == [trace.loss_node]


@pytest.mark.parametrize("query", ["", "op:sqrt", "grad>>1", "|grad>2", "colour:red", "kind:weight", "pos:x", "grad>abc", "scope:"])
def test_malformed_queries_raise_one_line_value_errors(trace, query):
    with pytest.raises(ValueError) as error:
        search(trace, query)
    assert "\n" not in str(error.value) and str(error.value)


def test_consumer_contributions_add_up_to_the_grad(trace):
    for node in (5, 100, int(search(trace, "op:exp")[0]), int(trace.param_nodes["wte"][0])):
        links = consumers_of(trace, node)
        assert links
        assert sum(l.contribution for l in links) == pytest.approx(trace.grad[node], rel=1e-9, abs=1e-15)
        for l in links:
            assert l.contribution == l.local_grad * trace.grad[l.node]


def test_inputs_of_lists_both_slots_of_a_square(trace):
    square = next(int(i) for i in search(trace, "op:* scope:rmsnorm") if len({l.node for l in inputs_of(trace, i)}) == 1)
    links = inputs_of(trace, square)
    assert [l.slot for l in links] == [0, 1] and links[0].node == links[1].node
    x = links[0].node
    assert links[0].local_grad == trace.data[x]


def test_path_between_and_neighbourhood(trace):
    param = int(trace.param_nodes["wpe"][0])
    path = path_between(trace, param, trace.loss_node)
    assert path[0] == param and path[-1] == trace.loss_node
    assert all(trace.graph.has_edge(u, v) for u, v in zip(path, path[1:]))
    assert path_between(trace, trace.loss_node, param) == path[::-1]
    late = trace.position_loss_nodes[3]
    early = trace.position_loss_nodes[1]
    assert path_between(trace, early, late) == []
    near = neighbourhood(trace, path[1], 1)
    assert set(near.tolist()) == {path[1]} | set(trace.graph.predecessors(path[1])) | set(trace.graph.successors(path[1]))
    assert len(neighbourhood(trace, path[1], 2)) > len(near)
