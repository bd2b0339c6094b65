"""Top-level boxes (positions) in the model's order, where dot's own layout has them shuffled.

dot orders the boxes of a rank to cross as few edges as it can. In a token's loss cone the
key/value cache edges run from every earlier position into the last one, so the last position
sits best in the middle of the others: dot draws `pos0 pos3 pos1 pos2`, and no DOT hint holds
the order against that (invisible anchors, `ordering`, `mclimit`, `remincross`, constraint-free
cache edges, reordered input: all measured, none kept the order in every case). Students read
positions left to right, so the order is restored after the layout instead:

1. dot lays the picture out as usual (`-Tjson0`).
2. Each top-level box is a column across the rank direction (x under TB, y under LR), together
   with the loose top-level nodes (parameters) that feed it most, or, feeding several alike, lie
   nearest to it. When the boxes stand side by side out of the order they are written in (model
   order, see layout.nesting), the columns are moved into that order, into the slots they had
   with the gaps they had (wider where a column's parameters reached into its neighbour's slot).
   Loose nodes in a row of their own (the embedding tables above every position) go to the mean
   place of the boxes they feed.
3. Rows of closed boxes that order_lines writes as `{rank=same; ...}` in model order (q k v)
   are put in that order among the places dot gave them.
4. Edges whose ends moved apart lost their routes, and so did the ones dot ran through a
   frame's title. They get routes of our own (core/views/edge_routes.py). Under LR a few of
   those run through a title; in pictures small enough, neato routes those few again, around
   the boxes and the titles given to it.
5. The moved picture is drawn by `dot -Kneato -n2`, which keeps every position and route given.

`rearranged_source(source, laid_out)` makes step 5's input: the DOT source with positions, or
None when dot's order is the model's already (then dot's own drawing is used).
"""
import re

import numpy as np

from core.views.edge_routes import DEFAULT_ARROW, Router, from_rank_across, rank_across


_TOP_CLUSTER = re.compile(r'^  subgraph ("(?:[^"\\]|\\.)*") \{$')
_ANY_CLUSTER = re.compile(r'^\s*subgraph ("(?:[^"\\]|\\.)*") \{$')
_NODE = re.compile(r'^(\s*)("(?:[^"\\]|\\.)*")( \[.*)?;$')
_EDGE = re.compile(r'^(\s*)("(?:[^"\\]|\\.)*") -> ("(?:[^"\\]|\\.)*")( \[.*\])?;$')
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_ROW = re.compile(r'^\s*\{rank=same; ((?:"(?:[^"\\]|\\.)*"; ?)+)\}$')  # closed boxes of one row, in model order
MIN_GAP = 18.0  # points between two columns, dot's own nodesep of 0.25 inch
ANCHOR = "order"  # names the invisible anchors; the space after it keeps them apart from every visible id
# the flags that make `dot` draw with positions and edge routes given (see module docstring)
NEATO_FLAGS = ("-Kneato", "-n2")


def _escaped(text):
    return text.replace("\\", "\\\\").replace('"', '\\"')


def unquote(token):
    return token[1:-1].replace('\\"', '"').replace("\\\\", "\\")


def rearranged_source(source, laid_out, neato_routes=True):
    """DOT source for `dot -Kneato -n2` drawing `source` with its top-level boxes in the order they
    are written in, from dot's layout of it (`-Tjson0`, parsed), and with the edges that dot ran
    through a frame's title routed around it; None when no box has to move and no edge crosses a
    title. neato_routes: a route of ours that would cross a title (under LR) is left for neato
    to find, which costs seconds in a big picture; with False it is kept."""
    lines = source.splitlines()
    top = [unquote(m.group(1)) for m in map(_TOP_CLUSTER.match, lines) if m]
    rows = [[unquote(name) for name in _QUOTED.findall(m.group(1))] for m in map(_ROW.match, lines) if m]
    geometry = _Geometry(laid_out, laid_out.get("rankdir", "TB"))
    shifts = (geometry.shifts(top) if len(top) > 1 else None) or {}
    geometry.put_rows_in_order(rows, shifts)
    return _placed_source(source, geometry, shifts, neato_routes)


class _Geometry:
    """dot's layout read along the axis across ranks: `across` grows in reading order."""

    def __init__(self, laid_out, rankdir):
        self.rankdir = rankdir
        self.bb = laid_out["bb"]
        self.growth = 0.0  # how much wider the picture gets across the ranks (see shifts)
        self.rerouted = set()  # gvids of nodes whose every edge is routed again
        objects = laid_out.get("objects", [])
        subgraphs = objects[:laid_out.get("_subgraph_cnt", 0)]  # clusters and {rank=same} groups
        self.subgraphs = {o["_gvid"]: o for o in subgraphs}
        self.clusters = {o["name"]: o for o in subgraphs if "bb" in o}
        self.nodes = {o["_gvid"]: o for o in objects[len(subgraphs):]}
        self.by_name = {o["name"]: o for o in self.nodes.values()}
        self.edges = laid_out.get("edges", [])
        self.neighbours = {}
        for edge in self.edges:
            self.neighbours.setdefault(edge["tail"], []).append(edge["head"])
            self.neighbours.setdefault(edge["head"], []).append(edge["tail"])

    # reading order: left to right under TB; top to bottom under LR, where Graphviz's y grows upwards
    def across(self, x, y):
        return rank_across(self.rankdir, x, y)[1]

    def delta(self, shift):
        """(dx, dy) in Graphviz's coordinates for a shift along the reading axis. Under LR the
        picture grows downwards, so whatever growth there is lifts everything (y >= 0 stays)."""
        return (shift, 0.0) if self.rankdir == "TB" else (0.0, self.growth - shift)

    def grown_bb(self):
        x0, y0, x1, y1 = (float(v) for v in self.bb.split(","))
        if self.rankdir == "TB":
            return f"{x0:.2f},{y0:.2f},{x1 + self.growth:.2f},{y1:.2f}"
        return f"{x0:.2f},{y0:.2f},{x1:.2f},{y1 + self.growth:.2f}"

    def cluster_span(self, cluster):
        x0, y0, x1, y1 = (float(v) for v in cluster["bb"].split(","))
        a, b = self.across(x0, y0), self.across(x1, y1)
        return min(a, b), max(a, b)

    def rank_span(self, bb):
        """(low, high) of a bounding box "x0,y0,x1,y1" along the rank direction."""
        x0, y0, x1, y1 = (float(v) for v in bb.split(","))
        return (y0, y1) if self.rankdir == "TB" else (x0, x1)

    def node_bb(self, node):
        x, y = (float(v) for v in node["pos"].split(",")[:2])
        w, h = 36 * float(node["width"]), 36 * float(node["height"])
        return f"{x - w},{y - h},{x + w},{y + h}"

    def node_span(self, node):
        x, y = (float(v) for v in node["pos"].split(",")[:2])
        half = 72 * float(node["width" if self.rankdir == "TB" else "height"]) / 2
        centre = self.across(x, y)
        return centre - half, centre + half

    def shifts(self, top):
        """Shift along the reading axis of every top-level column's nodes and clusters, keyed by
        ('node', gvid) / ('cluster', name); None when the columns are in order or overlap."""
        names = list(top)
        if any(n not in self.clusters for n in names):
            return None
        members = {n: self._inside(self.clusters[n]) for n in names}  # (set of node gvids, cluster names)
        spans = {n: list(self.cluster_span(self.clusters[n])) for n in names}
        in_a_box = set().union(*(nodes for nodes, _ in members.values()))
        loose = {}  # top-level column -> the loose nodes that go with it
        boxed_ranks = [self.rank_span(self.clusters[n]["bb"]) for n in names]
        free = []  # loose nodes in a row of their own, above or below every box
        for gvid, node in self.nodes.items():
            if gvid in in_a_box or "pos" not in node:
                continue
            low, high = self.rank_span(self.node_bb(node))
            if all(high <= a or b <= low for a, b in boxed_ranks):
                free.append(gvid)
                continue
            low, high = self.node_span(node)
            centre = (low + high) / 2
            # with the column it feeds most (a parameter of the last position goes with it),
            # between columns it feeds alike with the nearest
            fed = [sum(other in members[n][0] for other in self.neighbours.get(gvid, ())) for n in names]
            nearest = min(range(len(names)), key=lambda k: (-fed[k], max(spans[names[k]][0] - centre, 0.0, centre - spans[names[k]][1])))
            loose.setdefault(names[nearest], []).append(gvid)
        columns = {n: list(spans[n]) for n in names}
        for n, gvids in loose.items():
            for gvid in gvids:
                low, high = self.node_span(self.nodes[gvid])
                columns[n][0], columns[n][1] = min(columns[n][0], low), max(columns[n][1], high)
        placed = sorted(names, key=lambda n: spans[n][0])
        if placed == names:
            return None
        if any(spans[a][1] > spans[b][0] for a, b in zip(placed, placed[1:])):
            return None  # boxes above one another, not side by side: no columns to swap
        # Columns go in model order into the slots they had, with the gaps they had; where a
        # column's loose nodes reached into the next column's slot (above or below its box),
        # the gap is made wide enough for both, and the picture grows by as much.
        placed = sorted(names, key=lambda n: columns[n][0])
        gaps = [max(columns[b][0] - columns[a][1], MIN_GAP) for a, b in zip(placed, placed[1:])] + [0.0]
        start, shift = columns[placed[0]][0], {}
        for n, gap in zip(names, gaps):
            shift[n] = start - columns[n][0]
            start += columns[n][1] - columns[n][0] + gap
        self.growth = max(0.0, start - columns[placed[-1]][1])
        moved = {}
        for n in names:
            nodes, clusters = members[n]
            for gvid in [*nodes, *loose.get(n, [])]:
                moved[("node", gvid)] = shift[n]
            for name in clusters:
                moved[("cluster", name)] = shift[n]
        self._place_free(free, moved)
        return moved

    def put_rows_in_order(self, rows, moved):
        """Rows of boxes on one rank (q k v), each listed in model order, put in that order among
        the places they took, keeping the gaps between them. A row with some other node between
        its boxes is left as dot drew it."""
        by_name = {node["name"]: gvid for gvid, node in self.nodes.items() if "pos" in node}
        for row in rows:
            if any(name not in by_name for name in row):
                continue
            gvids = [by_name[name] for name in row]
            ranks = {round(sum(self.rank_span(self.node_bb(self.nodes[g]))) / 2) for g in gvids}
            if len(ranks) != 1:
                continue
            spans = {g: self.node_span(self.nodes[g]) for g in gvids}
            placed = sorted(gvids, key=lambda g: spans[g][0])
            if placed == gvids:
                continue
            low, high = spans[placed[0]][0], spans[placed[-1]][1]
            (rank,) = ranks
            between = [g for g, node in self.nodes.items() if "pos" in node and g not in spans
                       and round(sum(self.rank_span(self.node_bb(node))) / 2) == rank
                       and low < sum(self.node_span(node)) / 2 < high]
            if between:
                continue
            gaps = [spans[b][0] - spans[a][1] for a, b in zip(placed, placed[1:])] + [0.0]
            start = low
            for g, gap in zip(gvids, gaps):
                moved[("node", g)] = moved.get(("node", g), 0.0) + start - spans[g][0]
                self.rerouted.add(g)
                start += spans[g][1] - spans[g][0] + gap

    def _place_free(self, free, moved):
        """Loose nodes in rows of their own (the embeddings above all positions) go where their
        neighbours went, at the mean of their places, pushed apart where two would overlap."""
        centre = {}
        for gvid, node in self.nodes.items():
            if "pos" in node:
                low, high = self.node_span(node)
                centre[gvid] = (low + high) / 2 + moved.get(("node", gvid), 0.0)
        neighbours = {gvid: [] for gvid in free}
        for edge in self.edges:
            for end, other in ((edge["tail"], edge["head"]), (edge["head"], edge["tail"])):
                if end in neighbours and other in centre and other not in neighbours:
                    neighbours[end].append(other)
        rows = {}
        for gvid in free:
            wanted = centre[gvid]
            if neighbours[gvid]:
                wanted = sum(centre[o] for o in neighbours[gvid]) / len(neighbours[gvid])
            low, high = self.rank_span(self.node_bb(self.nodes[gvid]))
            rows.setdefault(round((low + high) / 2), []).append((wanted, gvid))
        for row in rows.values():
            edge_of_last = -float("inf")
            for wanted, gvid in sorted(row):
                low, high = self.node_span(self.nodes[gvid])
                half = (high - low) / 2
                placed = max(wanted, edge_of_last + MIN_GAP + half)
                moved[("node", gvid)] = placed - (low + high) / 2
                self.rerouted.add(gvid)
                edge_of_last = placed + half

    def _inside(self, cluster):
        """(node gvids, cluster names) of a cluster, itself and its nested clusters included."""
        nodes, names, todo = set(cluster.get("nodes", [])), [], [cluster]
        while todo:
            c = todo.pop()
            if "bb" in c:
                names.append(c["name"])
            todo.extend(self.subgraphs[g] for g in c.get("subgraphs", []))
        return nodes, names


def _moved_point(text, dx, dy):
    x, y = (float(v) for v in text.split(",")[:2])
    return f"{x + dx:.2f},{y + dy:.2f}"


def _moved_spline(text, dx, dy):
    parts = []
    for part in text.replace("\\\n", "").split():
        if part[:2] in ("e,", "s,"):
            parts.append(part[:2] + _moved_point(part[2:], dx, dy))
        else:
            parts.append(_moved_point(part, dx, dy))
    return " ".join(parts)


def _moved_box(text, dx, dy):
    x0, y0, x1, y1 = (float(v) for v in text.split(","))
    return f"{x0 + dx:.2f},{y0 + dy:.2f},{x1 + dx:.2f},{y1 + dy:.2f}"


def _with_attrs(attrs_part, added):
    """An attribute list ` [...]` (or nothing) with attributes added in front."""
    if not attrs_part:
        return f" [{added}]"
    return f" [{added}, {attrs_part.strip()[1:]}"


def _placed_source(source, geometry, shifts, neato_routes):
    """The source with pos for every node, bb and lp for every cluster, pos for every edge that
    keeps its route, and no anchors (they only held dot's order)."""
    node_at, node_shift = {}, {}
    for gvid, node in geometry.nodes.items():
        if "pos" not in node:
            continue
        dx, dy = geometry.delta(shifts.get(("node", gvid), 0.0))
        node_at[node["name"]] = _moved_point(node["pos"], dx, dy)
        node_shift[node["name"]] = shifts.get(("node", gvid), 0.0)
    titles = _title_obstacles(geometry, shifts)
    boxes = {name: (*(float(v) for v in at.split(",")), 72 * float(geometry.by_name[name]["width"]), 72 * float(geometry.by_name[name]["height"]))
             for name, at in node_at.items() if not name.startswith(ANCHOR + " ")}
    kept, again = {}, []
    title_array = np.array(list(titles.values()), dtype=float).reshape(-1, 4)
    for edge in geometry.edges:
        tail, head = geometry.nodes[edge["tail"]]["name"], geometry.nodes[edge["head"]]["name"]
        if tail not in boxes or head not in boxes:
            continue  # to or from an anchor, which goes
        if ("pos" not in edge or node_shift[tail] != node_shift[head]
                or edge["tail"] in geometry.rerouted or edge["head"] in geometry.rerouted):
            again.append((edge, tail, head))  # its ends moved apart
            continue
        dx, dy = geometry.delta(node_shift[tail])
        route = _moved_spline(edge["pos"], dx, dy)
        if len(title_array) and _crosses_a_title(route, title_array):
            again.append((edge, tail, head))  # dot ran it through a frame's title
            continue
        label_at = f', lp="{_moved_point(edge["lp"], dx, dy)}"' if "lp" in edge else ""
        kept.setdefault((tail, head), []).append(f'pos="{route}"{label_at}')
    if not shifts and not again:
        return None
    routes, left_to_neato = kept, 0
    router = Router([*boxes.values(), *titles.values()], geometry.rankdir)
    for edge, tail, head in again:
        route = router.route(boxes[tail], boxes[head], _arrow_length(edge.get("pos", "")))
        if neato_routes and geometry.rankdir != "TB" and len(title_array) and _crosses_a_title(route, title_array):
            # under LR titles run along the ranks, into the gaps our routes cross (see
            # edge_routes.py): neato routes this one around the titles given to it as boxes
            left_to_neato += 1
            if "lp" in edge:  # the label stays in the room dot made for it
                dx, dy = geometry.delta(node_shift[tail])
                routes.setdefault((tail, head), []).append(f'lp="{_moved_point(edge["lp"], dx, dy)}"')
            continue
        label_at = f', lp="{_label_beside(route, edge, geometry)}"' if "lp" in edge else ""
        routes.setdefault((tail, head), []).append(f'pos="{route}"{label_at}')
    lines = []
    for line in source.splitlines():
        if f'"{ANCHOR} ' in line:
            continue
        cluster = _ANY_CLUSTER.match(line)
        edge = _EDGE.match(line) if not cluster else None
        node = _NODE.match(line) if not (cluster or edge) else None
        if cluster:
            name = unquote(cluster.group(1))
            laid = geometry.clusters.get(name)
            lines.append(line)
            if laid is not None:
                dx, dy = geometry.delta(shifts.get(("cluster", name), 0.0))
                box = f'bb="{_moved_box(laid["bb"], dx, dy)}"'
                if "lp" in laid:
                    box += f', lp="{_moved_point(laid["lp"], dx, dy)}"'
                if "lwidth" in laid:  # the title's size, read back like dot's own (tests, the app)
                    box += f', lwidth={laid["lwidth"]}, lheight={laid["lheight"]}'
                lines.append(f"{line[:len(line) - len(line.lstrip())]}  graph [{box}];")
        elif edge:
            indent, tail, head, attrs = edge.groups()
            route = routes.get((unquote(tail), unquote(head)))
            if route:
                attrs = _with_attrs(attrs, route.pop(0))
            lines.append(f"{indent}{tail} -> {head}{attrs or ''};")
        elif node and unquote(node.group(2)) in node_at:
            indent, name, attrs = node.groups()
            lines.append(f'{indent}{name}{_with_attrs(attrs, f"pos={chr(34)}{node_at[unquote(name)]}{chr(34)}")};')
        else:
            lines.append(line)
    closing = max(i for i, line in enumerate(lines) if line.strip() == "}")
    if not left_to_neato:  # every node and edge has its place: neato -n2 only draws
        lines[closing:closing] = [f'  graph [bb="{geometry.grown_bb()}"];']
    else:  # neato routes the edges without a place around the boxes, and around the titles given as boxes
        lines[closing:closing] = [f'  graph [bb="{geometry.grown_bb()}", splines=true];'] + [
            f'  "{ANCHOR} title {_escaped(name)}" [shape=box, style=invis, label="", fixedsize=true, '
            f'width={w / 72:.3f}, height={h / 72:.3f}, pos="{x:.2f},{y:.2f}"];'
            for name, (x, y, w, h) in _clear_of_boxes(titles, boxes).items()]
    return "\n".join(lines) + "\n"


# neato routes nothing when two obstacles come closer than its margin around each (esep, 3
# points by default): a title is an obstacle for it only where it keeps clear of every box
TITLE_CLEARANCE = 6.5


def _clear_of_boxes(titles, boxes):
    return {name: (x, y, w, h) for name, (x, y, w, h) in titles.items()
            if all(abs(x - bx) >= (w + bw) / 2 + TITLE_CLEARANCE or abs(y - by) >= (h + bh) / 2 + TITLE_CLEARANCE
                   for bx, by, bw, bh in boxes.values())}


def _arrow_length(pos):
    """Points from the end of dot's route to its arrow's tip (arrowsize differs by theme)."""
    tip = next((p[2:] for p in pos.split() if p.startswith("e,")), None)
    points = _control_points(pos)
    if tip is None or not points:
        return DEFAULT_ARROW
    (x0, y0), (x1, y1) = points[-1], (float(v) for v in tip.split(",")[:2])
    return max(1.0, ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5)


def _label_beside(route, edge, geometry):
    """Where an edge's label goes on its new route: as far beside it as dot had put it beside
    the old one, halfway along the new one."""
    old, new = (_control_points(pos, geometry.rankdir) for pos in (edge.get("pos", ""), route))
    if not old or not new:
        return edge["lp"]
    label_r, label_a = rank_across(geometry.rankdir, *(float(v) for v in edge["lp"].split(",")[:2]))
    aside = label_a - _across_at(old, label_r)
    middle = (new[0][0] + new[-1][0]) / 2
    return "%.2f,%.2f" % from_rank_across(geometry.rankdir, middle, _across_at(new, middle) + aside)


def _control_points(pos, rankdir=None):
    """A route's control points ("e,x,y x,y x,y ..." without its arrow's end points), as (x, y),
    or as (along the ranks, across) when given the rankdir."""
    points = [tuple(float(v) for v in p.split(",")[:2]) for p in pos.split() if not p.startswith(("e,", "s,"))]
    return points if rankdir is None else [rank_across(rankdir, x, y) for x, y in points]


def _across_at(points, rank):
    """The place across of a route's control point nearest `rank` along the ranks."""
    return min((abs(r - rank), a) for r, a in points)[1]


TITLE_MARGIN = 2.0  # points around a title that a route of dot's may not come into either
_SAMPLES = np.linspace(0.0, 1.0, 65)  # along a piece of a route up to ~200 points long: ~3 points apart
# the cubic Bernstein weights of every sample, (65, 4)
_WEIGHTS = np.stack([(1 - _SAMPLES) ** 3, 3 * (1 - _SAMPLES) ** 2 * _SAMPLES, 3 * (1 - _SAMPLES) * _SAMPLES ** 2, _SAMPLES ** 3], axis=1)


def _crosses_a_title(route, titles):
    """Whether a B-spline route ("e,x,y x,y ...", points) runs through any title; titles:
    (n, 4) array of x, y, width, height. A curve lies inside the box around its control
    points, so only the titles that box meets are sampled."""
    points = np.array(_control_points(route))
    if len(points) < 4:
        return False
    low, high = points.min(axis=0), points.max(axis=0)
    near = titles[(np.abs(titles[:, 0] - (low[0] + high[0]) / 2) < (titles[:, 2] + high[0] - low[0]) / 2)
                  & (np.abs(titles[:, 1] - (low[1] + high[1]) / 2) < (titles[:, 3] + high[1] - low[1]) / 2)]
    if not len(near):
        return False
    segments = (len(points) - 1) // 3
    control = np.stack([points[3 * k:3 * k + 4] for k in range(segments)])  # (segments, 4, 2)
    samples = np.einsum("sj,kjd->ksd", _WEIGHTS, control).reshape(-1, 2)
    # samples ~3 points apart could step over a title's corner: the title counts with a margin
    inside = (np.abs(samples[:, None, 0] - near[None, :, 0]) < near[None, :, 2] / 2 + TITLE_MARGIN) & \
             (np.abs(samples[:, None, 1] - near[None, :, 1]) < near[None, :, 3] / 2 + TITLE_MARGIN)
    return bool(inside.any())


def _title_obstacles(geometry, shifts):
    """Cluster name -> (x, y, width, height) in points of its title, as moved."""
    titles = {}
    for name, cluster in geometry.clusters.items():
        if not cluster.get("label") or "lp" not in cluster or "lwidth" not in cluster:
            continue
        dx, dy = geometry.delta(shifts.get(("cluster", name), 0.0))
        x, y = (float(v) for v in _moved_point(cluster["lp"], dx, dy).split(","))
        titles[name] = (x, y, 72 * float(cluster["lwidth"]), 72 * float(cluster["lheight"]))
    return titles
