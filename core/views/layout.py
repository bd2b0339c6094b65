"""Where to draw a rendered view: Graphviz `dot` for opened views, a numpy layering for the overview.

`layout_view(rendered, rankdir)` runs `dot -Tjson0` on the view's nodes (fixed-size boxes),
edges and clusters (open groups), and returns positions, sizes, edge splines and cluster
boxes in points, origin at the top left, y growing downwards (screen convention). Box sizes
depend only on what stays the same from step to step (kind and group names, not values),
so the layout is cached by (shape_key, rankdir): the next training step on the same name,
or at module level on any name of the same length, draws with the layout it already has.

`overview_layout(trace)` places all 35k-140k nodes of a step without Graphviz: x by depth
(longest path from the inputs, computed level by level in numpy), y by position, then scope,
then backward order. It is for a zoomed-out map, not for reading labels.
"""
import hashlib
import json
import re
import shutil
import subprocess
import time
from collections import OrderedDict
from dataclasses import dataclass, replace

import numpy as np

from core.trace.index import gather, index_of
from core.views.model_order import ANCHOR, NEATO_FLAGS, rearranged_source
from core.views.rendered import box_text

FONT_SIZE = 10.0  # points; the box sizes below assume this font
CHAR_WIDTH = 0.62 * FONT_SIZE  # average advance of a monospace-ish character
LINE_HEIGHT = 1.35 * FONT_SIZE
PAD = 8.0  # points around the text of a box
VALUE_CHARS = 16  # width of a value box in characters: `grad -0.0001234` fits
GROUP_MIN_CHARS = 10
CACHE_BYTES = 48 * 2**20  # what cached layouts may hold; a step's module view is ~0.2 MB, a scalar close-up a few MB


class GraphvizNotFound(RuntimeError):
    """The `dot` program of Graphviz is not installed or not on PATH."""

    def __init__(self):
        super().__init__(
            "Graphviz's `dot` program was not found on PATH; install Graphviz "
            "(Debian/Ubuntu: apt-get install graphviz, macOS: brew install graphviz) or export as DOT"
        )


class GraphvizFailed(RuntimeError):
    """`dot` ran but failed; the message carries its first line of complaint."""


@dataclass(frozen=True)
class Box:
    x: float  # centre, points
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Layout:
    nodes: dict  # visible node id -> Box
    edges: list  # (source id, target id, [(x, y), ...] cubic B-spline control points, arrow tip or None)
    clusters: dict  # cluster id -> Box around its members
    width: float  # bounding box, points
    height: float
    rankdir: str
    seconds: float  # time dot took (0 for a cache hit on first use, never re-measured)
    # A layout handed out under a view's own scalar names (layout_view): the cached one it was
    # renamed from, and the names it renamed (view's name -> cached name); None for the cached one.
    general: object = None
    names: dict = None


def dot_path():
    path = shutil.which("dot")
    if path is None:
        raise GraphvizNotFound()
    return path


# Graphviz 2.43 sometimes cannot route a curved edge around big clusters ("triangulation
# failed") and gives up on the whole picture; straight edges can always be drawn.
_ROUTING_FAILURE = "triangulation failed"


def run_dot(source, fmt, timeout=60):
    """Run `dot -T<fmt>` on DOT source text; bytes out. GraphvizNotFound / GraphvizFailed on trouble.

    When dot cannot route its curved edges, the picture is drawn again with straight ones.
    """
    try:
        return _run_dot_once(source, fmt, timeout)
    except GraphvizFailed as e:
        if _ROUTING_FAILURE not in str(e) or "graph [" not in source:
            raise
    return _run_dot_once(source.replace("graph [", "graph [splines=line, ", 1), fmt, timeout)


MODEL_ORDER_LIMIT = 100  # boxes up to which neato may route again an edge ours ran through a title


def run_in_model_order(source, fmt, timeout=60):
    """run_dot, with top-level boxes (positions) in the order the source lists them, model order.

    dot shuffles them; core/views/model_order.py says why and how they are moved back. When they
    have to move, the picture is drawn from the moved positions instead of dot's own drawing.
    """
    laid_out = run_dot(source, "json0", timeout)
    geometry = json.loads(laid_out)
    boxes = sum(1 for obj in geometry.get("objects", []) if "nodes" not in obj and not obj["name"].startswith(ANCHOR + " "))
    # neato's router costs far more than dot's whole layout as the picture grows (0.6 s at 52
    # boxes, 14 s at 143, minutes at 8,000): past the limit our routes stand, title or not
    moved = rearranged_source(source, geometry, neato_routes=boxes <= MODEL_ORDER_LIMIT)
    if moved is not None:
        try:
            return _run_dot_once(moved, fmt, timeout, *NEATO_FLAGS)
        except GraphvizFailed:
            pass  # the edges could not be routed again: dot's own order is still a picture
    return laid_out if fmt == "json0" else run_dot(source, fmt, timeout)


def _run_dot_once(source, fmt, timeout, *flags):
    try:
        done = subprocess.run([dot_path(), *flags, f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True, timeout=timeout)
    except FileNotFoundError:
        raise GraphvizNotFound() from None
    except subprocess.TimeoutExpired:
        raise GraphvizFailed(f"Graphviz took longer than {timeout} s; choose a smaller scope or level") from None
    if done.returncode != 0:
        complaint = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GraphvizFailed(f"Graphviz failed: {complaint[0] if complaint else f'exit status {done.returncode}'}")
    return done.stdout


# ---- box sizes -------------------------------------------------------------------------
def box_lines(node):
    """Text lines a box is sized for (and the app can draw): op, data, grad, or the group's box_text."""
    if node.kind == "value" and node.op != "sum":
        return [node.label, "data", "grad"]
    if node.kind == "value":
        return [node.label, "= data"]
    return box_text(node)


def box_size(node):
    """(width, height) in points, from layout-stable text only (no numbers that change per step)."""
    if node.kind == "value":
        chars = max(VALUE_CHARS, len(node.label) + 2)
        lines = 3
    else:
        name, *size = box_lines(node)
        # the size line is set in a smaller font; the extra characters are its margin of error
        chars = max([GROUP_MIN_CHARS, len(name) + 2] + [len(line) + 4 for line in size])
        lines = 2
    return chars * CHAR_WIDTH + 2 * PAD, lines * LINE_HEIGHT + 2 * PAD


# ---- Graphviz layout of a view -------------------------------------------------------------
def quote(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def layout_source(rendered, rankdir="TB"):
    """DOT for layout only: fixed-size boxes, clusters for open groups, no styling."""
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"rankdir must be TB or LR, got {rankdir!r}")
    lines = [
        "digraph view {",
        f"  graph [rankdir={rankdir}, nodesep=0.25, ranksep=0.4, newrank=true, fontsize={FONT_SIZE:g}];",
        '  node [shape=box, fixedsize=true, label=""];',
    ]
    children, members = nesting(rendered)
    runs = sibling_runs(rendered, children, members)
    for n in members.get(None, []):
        lines.append(_node_line(n, "  "))
    for c in children.get(None, []):
        _cluster_lines(c, children, members, runs, rankdir, lines, "  ")
    lines.extend(order_lines(runs.get(None, []), rankdir, "  "))
    for e in rendered.edges:
        lines.append(f"  {quote(e.source)} -> {quote(e.target)};")
    lines.append("}")
    return "\n".join(lines)


# Open groups not drawn as a box: a box around all parameter matrices would pull them
# away from the blocks that use them, far across the diagram.
UNBOXED = ("params",)


def nesting(rendered):
    """(clusters by parent id, visible nodes by parent id); the top level is under None.

    Groups in UNBOXED and the groups around a focused scope get no box: their members
    move up to the level above.
    """
    focus = getattr(rendered, "focus", None)
    unboxed = {c.id for c in rendered.clusters if c.id in UNBOXED or (focus and focus.startswith(c.id + "/"))}
    parent_of = {c.id: c.parent for c in rendered.clusters}

    def boxed_parent(group):
        while group in unboxed:
            group = parent_of.get(group)
        return group

    children, members = {}, {}
    for c in rendered.clusters:
        if c.id not in unboxed:
            children.setdefault(boxed_parent(c.parent), []).append(c)
    for n in rendered.nodes:
        members.setdefault(boxed_parent(n.parent), []).append(n)
    _merge_single_chains(children, members)
    _sort_in_model_order(rendered, children)
    return children, members


def _sort_in_model_order(rendered, children):
    """Sibling boxes listed in the order the model computes them: pos0 before pos1 (and pos9
    before pos10), head0 before head1, whatever order the groups were numbered in.

    A box's place is its earliest visible node: rendered.nodes come in the order of their first
    scalar member, the order the forward pass made them.
    """
    place = {n.id: k for k, n in enumerate(rendered.nodes)}
    parent_of = {c.id: parent for parent, clusters in children.items() for c in clusters}
    enclosing = {c.id: c.parent for c in rendered.clusters}
    first = {}
    for n in rendered.nodes:  # in model order, so the first node met inside a box is its earliest
        group = n.parent
        while group is not None and group not in parent_of:  # a group drawn without a box of its own
            group = enclosing.get(group)
        while group is not None and group not in first:
            first[group] = place[n.id]
            group = parent_of[group]
    for clusters in children.values():
        clusters.sort(key=lambda c: first.get(c.id, len(place)))


# ---- siblings in model order -----------------------------------------------------------------
def sibling_runs(rendered, children, members):
    """Parent id (None: the top) -> runs of its children to draw side by side in model order.

    A run is made of siblings (closed boxes or open groups in one box) whose first nodes lie at
    the same depth of the view's graph: parallel copies such as positions, heads, or q k v,
    which dot puts side by side on its own but in an order of its choosing (pos0 pos3 pos1 pos2).
    Each run lists, in model order, the deepest node of each sibling (the one order_lines hangs
    its anchor from) and whether the sibling is a closed box (the node itself). Single values and
    parameter matrices are left where dot puts them: a row of parameters held together would pull
    each one far from the block that uses it. Rows of closed boxes only (q k v) and the top level
    are put in order after the layout (core/views/model_order.py).
    """
    depth = _longest_path_depths(rendered)
    place = {n.id: k for k, n in enumerate(rendered.nodes)}
    inside = {}  # cluster id -> visible nodes drawn in it, at any nesting
    parent_of = {c.id: parent for parent, clusters in children.items() for c in clusters}
    for parent, nodes in members.items():
        group = parent
        while group is not None:
            inside.setdefault(group, []).extend(nodes)
            group = parent_of.get(group)
    runs = {}
    for parent in parent_of:  # the top level is put in order after the layout (core/views/model_order.py)
        siblings = [(n.id, [n]) for n in members.get(parent, []) if n.kind != "value" and not n.scope.startswith("params")]
        siblings += [(c.id, inside[c.id]) for c in children.get(parent, []) if c.id in inside and not c.id.startswith("params")]
        by_depth = {}
        for sibling, nodes in sorted(siblings, key=lambda s: min(place[n.id] for n in s[1])):
            entry = min(nodes, key=lambda n: place[n.id])
            deepest = max(nodes, key=lambda n: (depth[n.id], place[n.id]))
            by_depth.setdefault(depth[entry.id], []).append((deepest.id, len(nodes) == 1 and nodes[0].id == sibling))
        found = [run for _, run in sorted(by_depth.items()) if len(run) > 1]
        if found:
            runs[parent] = found
    return runs



def order_lines(runs, rankdir, indent):
    """DOT lines that hold runs of siblings (see sibling_runs) in model order.

    dot keeps the order of invisible edges between nodes on one rank only outside clusters, and
    drops them between nodes of two clusters, so siblings are held by crossings instead: below
    each run, in the parent's box, a row of invisible anchors in model order, each hung from one
    sibling's deepest node. The row lies below every sibling, where a sibling out of order would
    make two of those lines cross, which dot avoids. Under rankdir LR dot turns the row so that
    its first node ends up at the bottom: the row is written backwards.
    """
    lines = []
    for run in runs:
        boxes = [quote(node) for node, is_box in run if is_box]
        if len(boxes) > 1:  # closed boxes of one depth side by side, as they would be without the anchors
            lines.append(f"{indent}{{rank=same; {'; '.join(boxes)};}}")
        if len(boxes) == len(run):
            # anchors below a row of closed boxes do not hold its order: model_order puts the
            # row, written in model order above, in that order after the layout
            continue
        anchors = [quote(f"{ANCHOR} {node}") for node, _ in run]
        for anchor in anchors:
            lines.append(f'{indent}{anchor} [style=invis, shape=point, width=0.01, height=0.01, fixedsize=true, label=""];')
        row = anchors[::-1] if rankdir == "LR" else anchors
        lines.append(f"{indent}{{rank=same; {' -> '.join(row)} [style=invis];}}")
        for anchor, (node, _) in zip(anchors, run):
            lines.append(f"{indent}{quote(node)} -> {anchor} [style=invis];")
    return lines


def _longest_path_depths(rendered):
    """Visible id -> edges on the longest path to it from a box with no inputs."""
    consumers, waiting = {}, {n.id: 0 for n in rendered.nodes}
    for e in rendered.edges:
        consumers.setdefault(e.source, []).append(e.target)
        waiting[e.target] += 1
    depth = dict.fromkeys(waiting, 0)
    ready = [i for i, w in waiting.items() if w == 0]
    while ready:
        i = ready.pop()
        for j in consumers.get(i, ()):
            depth[j] = max(depth[j], depth[i] + 1)
            waiting[j] -= 1
            if not waiting[j]:
                ready.append(j)
    return depth


def _merge_single_chains(children, members, parent=None):
    """A box holding nothing but one other box becomes one box: `pos0/layer0/attn`, `k: 16 × sum(16)`."""
    merged = []
    for c in children.get(parent, []):
        while not members.get(c.id) and len(children.get(c.id, [])) == 1:
            (inner,) = children.pop(c.id)
            if inner.kind == "vector":
                label = f"{c.label}: {inner.label.split(': ', 1)[-1]}"
            else:
                label = f"{c.label}/{inner.label}"
            members[c.id] = members.pop(inner.id, [])
            children[c.id] = children.pop(inner.id, [])
            c = replace(c, label=label, kind=inner.kind)
        merged.append(c)
        _merge_single_chains(children, members, c.id)
    if merged:
        children[parent] = merged


def _node_line(node, indent):
    w, h = box_size(node)
    return f"{indent}{quote(node.id)} [width={w / 72:.3f}, height={h / 72:.3f}];"


def _cluster_lines(cluster, children, members, runs, rankdir, lines, indent):
    lines.append(f"{indent}subgraph {quote('cluster_' + cluster.id)} {{")
    lines.append(f"{indent}  label={quote(cluster.label)};")
    for n in members.get(cluster.id, []):
        lines.append(_node_line(n, indent + "  "))
    for c in children.get(cluster.id, []):
        _cluster_lines(c, children, members, runs, rankdir, lines, indent + "  ")
    lines.extend(order_lines(runs.get(cluster.id, []), rankdir, indent + "  "))
    lines.append(f"{indent}}}")


# (shape_key, rankdir), or (digest of the renamed DOT source, rankdir) for views with scalar names
# -> (Layout under the general names, its size in bytes), least recently used first
_cache = OrderedDict()
cache_stats = {"hits": 0, "misses": 0}

# Sizes of CPython objects (64-bit) behind a Layout, to bound the cache by what it holds
_BOX_BYTES = 56 + 4 * 24 + 100  # a frozen dataclass, its four floats, its dict entry and key string
_EDGE_BYTES = 72 + 2 * 60 + 56  # the tuple, its two id strings, the list of points
_POINT_BYTES = 56 + 2 * 24 + 8  # a tuple of two floats and its slot in the list


def layout_bytes(layout):
    """About how many bytes `layout` keeps alive: boxes, edge splines and their points."""
    boxes = len(layout.nodes) + len(layout.clusters)
    points = sum(len(points) + (1 if tip is not None else 0) for _, _, points, tip in layout.edges)
    return boxes * _BOX_BYTES + len(layout.edges) * _EDGE_BYTES + points * _POINT_BYTES


def layout_view(rendered, rankdir="TB"):
    """Layout of a rendered view, from the cache when a view of the same shape was laid out before.

    Two views can have the same shape under other names: a single value's box is named by its
    node id, and the same value has another id in a step on another name (ids are positions in
    the step's topological order). So the cache also knows each layout by its DOT source with
    those ids numbered afresh in order (scalar_names), and a view found that way takes the
    layout with its own names put back: a Step with a parameter matrix open no longer waits
    for Graphviz to draw again the picture it drew the Step before.
    """
    names = scalar_names(rendered)
    key, source = _cache_key(rendered, rankdir, names)
    hit = _cache.get(key)
    if hit is not None:
        _cache.move_to_end(key)
        cache_stats["hits"] += 1
        general = hit[0]
    else:
        cache_stats["misses"] += 1
        start = time.perf_counter()
        raw = run_in_model_order(source or layout_source(rendered, rankdir), "json0")
        general = parse_json_layout(json.loads(raw), rankdir, time.perf_counter() - start)
        _cache[key] = (general, layout_bytes(general))
        while cached_bytes() > CACHE_BYTES and len(_cache) > 1:  # the newest stays, however big
            _cache.popitem(last=False)
    return _renamed_layout(general, names)


def cache_key(rendered, rankdir="TB"):
    """What the layout cache knows the layout of `rendered` by."""
    return _cache_key(rendered, rankdir, scalar_names(rendered))[0]


def _cache_key(rendered, rankdir, names):
    """(cache key, the renamed DOT source or None when no name needed renaming)."""
    if not names:
        return (rendered.shape_key, rankdir), None
    source = _renamed_source(layout_source(rendered, rankdir), names)
    return (hashlib.sha256(source.encode()).digest(), rankdir), source


_SCALAR_NAME = re.compile(r"^[ns]\d+$")  # a single value `n123` or a folded sum `s123`: named by a node id


def scalar_names(rendered):
    """{name: general name} for the names of boxes and frames that carry a node id (`n123`, `s123`):
    the ids ranked in order, so `n123` and `s123` keep their number in common and their order."""
    named = [item.id for item in list(rendered.nodes) + list(rendered.clusters) if _SCALAR_NAME.match(item.id)]
    ranks = {number: k for k, number in enumerate(sorted({int(name[1:]) for name in named}))}
    return {name: f"{name[0]}{ranks[int(name[1:])]}" for name in named}


def _renamed_source(source, names):
    """DOT source with every quoted name (a box, `cluster_` + a frame, an anchor under a box) renamed."""
    def rename(match):
        prefix, name = match.group(1) or "", match.group(2)
        return f'"{prefix}{names.get(name, name)}"'

    return re.sub(r'"(cluster_|' + re.escape(ANCHOR) + r' )?([ns]\d+)"', rename, source)


def _renamed_layout(layout, names):
    """The cached `layout` under the view's names (names: the view's name -> the cached one)."""
    if not names:
        return layout
    back = {general_name: name for name, general_name in names.items()}
    return replace(
        layout,
        general=layout,
        names=names,
        nodes={back.get(k, k): box for k, box in layout.nodes.items()},
        clusters={back.get(k, k): box for k, box in layout.clusters.items()},
        edges=[(back.get(a, a), back.get(b, b), points, tip) for a, b, points, tip in layout.edges],
    )


def cached_bytes():
    """What the cached layouts hold, about (bounded by CACHE_BYTES)."""
    return sum(size for _, size in _cache.values())


def clear_cache():
    _cache.clear()
    cache_stats.update(hits=0, misses=0)


def parse_json_layout(doc, rankdir, seconds):
    """Graphviz -Tjson0 output -> Layout, flipping y so it grows downwards."""
    x0, y0, x1, y1 = (float(v) for v in doc["bb"].split(","))
    height = y1 - y0

    def point(text):
        x, y = text.split(",")[:2]
        return float(x) - x0, height - (float(y) - y0)

    nodes, clusters, names = {}, {}, {}
    for obj in doc.get("objects", []):
        if "bb" in obj:  # a cluster
            a, b, c, d = (float(v) for v in obj["bb"].split(","))
            name = obj["name"][len("cluster_"):]
            clusters[name] = Box((a + c) / 2 - x0, height - ((b + d) / 2 - y0), c - a, d - b)
        elif obj["name"].startswith(ANCHOR + " "):
            pass  # an invisible anchor holding siblings in order: nothing to draw
        elif "pos" in obj:
            x, y = point(obj["pos"])
            nodes[obj["name"]] = Box(x, y, float(obj["width"]) * 72, float(obj["height"]) * 72)
        names[obj["_gvid"]] = obj["name"]
    edges = []
    for e in doc.get("edges", []):
        if names[e["head"]].startswith(ANCHOR + " "):
            continue
        tip, control = None, []
        for part in e.get("pos", "").split():
            if part.startswith("e,"):
                tip = point(part[2:])
            elif part.startswith("s,"):
                continue
            else:
                control.append(point(part))
        edges.append((names[e["tail"]], names[e["head"]], control, tip))
    return Layout(nodes, edges, clusters, x1 - x0, height, rankdir, seconds)


# ---- overview of a whole step ------------------------------------------------------------
def overview_layout(trace, spacing=1.0):
    """(x, y) per node id for the whole graph, with no Graphviz.

    x = depth: the longest chain of inputs below the node (computed a whole level at a time);
    y = rank of the node within its depth column after sorting by (position, scope, order),
    so each token's computation forms a band and each scope a stripe inside it.
    """
    ix = index_of(trace)
    n = ix.n
    depth = _depths(ix)
    pos = np.asarray(trace.pos, dtype=np.int64)
    pos = np.where(pos < 0, pos.max() + 1, pos)  # parameters and the mean loss get a band of their own
    # sort by depth column, then position band, then scope stripe, then backward order
    key = np.lexsort((np.arange(n)[::-1], ix.scope_code, pos, depth))
    rank = np.empty(n, dtype=np.int64)
    starts = np.searchsorted(depth[key], np.arange(depth.max() + 2))
    column_start = starts[depth[key]]
    rank[key] = np.arange(n) - column_start
    # centre every column vertically, so the map reads as a band rather than a staircase
    column_size = np.diff(starts)
    y = (rank - column_size[depth] / 2.0) * spacing
    x = depth.astype(np.float64) * spacing * 8.0
    return x, y


def _depths(ix):
    """Longest path from a source to each node, by repeated relaxation over whole levels.

    Node ids are topological, so one pass in id order would do, but a Python loop over 140k
    nodes is slow; instead process 'ready' nodes (all inputs done) a level at a time.
    """
    n = ix.n
    depth = np.zeros(n, dtype=np.int64)
    remaining = np.diff(ix.pred_ptr).astype(np.int64)  # unfinished inputs per node
    ready = np.flatnonzero(remaining == 0)
    level = 0
    while len(ready):
        depth[ready] = level
        out_edges = gather(ix.succ_ptr, ix.succ_edge, ready)
        consumers = ix.dst[out_edges]
        np.subtract.at(remaining, consumers, 1)
        candidates = np.unique(consumers)
        ready = candidates[remaining[candidates] == 0]
        level += 1
    return depth


# ---- benchmarks (used by `microgpt-viz bench`) -------------------------------------------------
def bench_expand_layout(trace, max_nodes=500):
    """Median seconds to expand one group, render and lay out the new view with a cold cache.

    Views: the last token's cone and the whole step's loss at module level, each with one of
    a few groups expanded; expansions that would pass max_nodes visible nodes are skipped.
    """
    from core.views.view import View

    t = trace.positions - 1
    groups = [
        f"pos{t}/layer0/attn/q", f"pos{t}/layer0/mlp/fc1", f"pos{t}/softmax",
        f"pos{t}/layer0/attn/head0/softmax", f"pos{t}/lm_head", f"pos{t}/embed/rmsnorm",
    ]
    makers = [lambda: View.for_token(trace, t), lambda: View(trace)]
    times = []
    for make in makers:
        for group in groups:
            probe = make().expand(group).render()
            if len(probe.nodes) > max_nodes:
                continue
            _cache.pop((probe.shape_key, "TB"), None)  # measure Graphviz, not the cache
            view = make()
            view.render()
            start = time.perf_counter()
            layout_view(view.expand(group).render())
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def bench_overview_layout(trace):
    """Seconds for overview_layout on the whole step (the trace index already built)."""
    index_of(trace)
    start = time.perf_counter()
    overview_layout(trace)
    return time.perf_counter() - start
