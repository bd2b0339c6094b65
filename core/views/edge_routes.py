"""Routes for the edges model order moved apart, drawn through the free space between boxes.

After core/views/model_order.py moves whole columns, an edge whose two ends moved apart has
lost dot's route. Graphviz can route it again (`neato -n2` with splines), but that router grows
steeply with the picture (0.6 s at 52 boxes, 14 s at 143, no end in sight at 8,000), far past
dot's whole layout. A layered picture has an easier structure to use instead: along the rank
direction, boxes and frame titles lie in bands, with free gaps between the bands. So a route

1. passes each band it crosses at a place across that no box or title takes (the free place
   nearest the straight line on to its target), entering and leaving the band there,
2. is pulled taut: from each corner kept it runs straight to the farthest corner it can see
   past every box and title (with margins), so with nothing in the way it is one straight line,
3. and turns at each corner left in a short curve, begun and ended a few points either side.

That holds where boxes and titles lie in bands, as they do under TB. Under LR a frame's title
runs along the ranks, into the gaps the routes cross, and a few routes run through one
(model_order.py has neato route those again where the picture is small enough).

Coordinates: Graphviz points, y up. Internally `t` runs along the rank direction the way the
edge travels and `a` across it.
"""
from bisect import bisect_right

import numpy as np

ACROSS_MARGIN = 5.0  # points kept free beside a box or title
RANK_MARGIN = 4.0  # points kept free above and below one
APPROACH = 8.0  # points a route runs straight along the ranks before its arrow
CORNER = 8.0  # points before and after a corner where a route starts and ends its turn
DEFAULT_ARROW = 10.0  # points from the route's end to the arrow's tip, Graphviz's at arrowsize 1


def rank_across(rankdir, x, y):
    """Graphviz (x, y) as (place along the ranks, growing down under TB and right under LR;
    place across, in reading order: left to right under TB, top to bottom under LR)."""
    return (-y, x) if rankdir == "TB" else (x, -y)


def from_rank_across(rankdir, r, a):
    """rank_across turned back into Graphviz (x, y)."""
    return (a, -r) if rankdir == "TB" else (r, -a)


class Router:
    """Routes around `obstacles`: (x, y, width, height) rectangles in points, centres and sizes."""

    def __init__(self, obstacles, rankdir):
        self.rankdir = rankdir
        # (rank low, rank high, across low, across high), by rank low
        self._rects = sorted(self._rect(*o) for o in obstacles)
        self._rank_lows = [r[0] for r in self._rects]
        self._tallest = max((r[1] - r[0] for r in self._rects), default=0.0)

    def _rect(self, x, y, width, height):
        r, a = rank_across(self.rankdir, x, y)
        half_r, half_a = (height / 2, width / 2) if self.rankdir == "TB" else (width / 2, height / 2)
        return (r - half_r, r + half_r, a - half_a, a + half_a)

    def route(self, tail, head, arrow=DEFAULT_ARROW):
        """Graphviz `pos` of an edge from box `tail` to box `head` ((x, y, width, height) each):
        "e,<tip> <start> <control> <control> <point> ..."."""
        t_rect, h_rect = self._rect(*tail), self._rect(*head)
        t_centre, h_centre = (t_rect[0] + t_rect[1]) / 2, (h_rect[0] + h_rect[1]) / 2
        sign = 1.0 if h_centre >= t_centre else -1.0  # the way the edge travels along the ranks
        start_r = t_rect[1] if sign > 0 else t_rect[0]
        tip_r = h_rect[0] if sign > 0 else h_rect[1]
        start_a, head_a = (t_rect[2] + t_rect[3]) / 2, (h_rect[2] + h_rect[3]) / 2
        head_half = (h_rect[3] - h_rect[2]) / 2
        if sign * (tip_r - start_r) <= arrow:  # ends side by side: no room for bands between them
            return self._straight(tail, head, arrow)
        start_t, end_t = sign * start_r, sign * (tip_r - sign * arrow)
        bands, obstacles = self._bands(start_t, end_t, sign, exclude=(t_rect, h_rect))
        corners = [(start_t, start_a)]  # (t, a) in travel order
        t, a = start_t, start_a
        def lined_up(a):  # where a route coming from `a` enters the head: within its middle half
            return head_a + max(-head_half / 2, min(head_half / 2, a - head_a))

        head_band = None  # where the head's own band begins, when the route lines up before it
        for low, high, free in bands:
            if high >= end_t and low > t and free(lined_up(a)) == lined_up(a):
                # the head's own band, free straight in (frame titles beside the head under
                # LR would be in the way of a route turning inside it): lined up before it
                head_band = low
                break
            if low <= t:  # already inside this band (a taller neighbour of the tail): stay put
                chosen = free(a)
            else:
                mid = (low + high) / 2
                chosen = free(a + (head_a - a) * (mid - t) / (end_t - t))
                corners.append((low, chosen))
            t, a = min(high, end_t), chosen
            corners.append((t, a))
        # into the head where the route comes from, the last bit straight along the ranks like
        # the arrow after it
        end_a = lined_up(a)
        if head_band is not None:  # in the gap before the head's band, not inside it
            lined_up_at = min(head_band, end_t - APPROACH) if head_band - APPROACH > t else head_band
        else:
            lined_up_at = max(end_t - APPROACH, (t + end_t) / 2)
        corners += [(lined_up_at, end_a), (end_t, end_a)]
        pulled = _pulled_taut(corners, obstacles)
        return self._pos(_rounded(pulled), sign, (tip_r, end_a))

    def _bands(self, start_t, end_t, sign, exclude):
        """(low t, high t, free(a) -> nearest free a) for each band of obstacles between start_t
        and end_t, in travel order; the edge's own two boxes left out."""
        if sign > 0:
            lo_r, hi_r = start_t, end_t
        else:
            lo_r, hi_r = -end_t, -start_t
        first = bisect_right(self._rank_lows, lo_r - self._tallest - RANK_MARGIN)
        last = bisect_right(self._rank_lows, hi_r + RANK_MARGIN)
        rects = [r for r in self._rects[first:last] if r not in exclude
                 and r[1] + RANK_MARGIN > lo_r and r[0] - RANK_MARGIN < hi_r]
        merged = []  # [rank low, rank high, [rects]]
        for rect in rects:  # by rank low already
            low, high = rect[0] - RANK_MARGIN, rect[1] + RANK_MARGIN
            if merged and low <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], high)
                merged[-1][2].append(rect)
            else:
                merged.append([low, high, [rect]])
        # the same rectangles in travel order, with their margins, for checking straight lines:
        # (n, 4) of t low, t high, a low, a high
        r = np.array(rects, dtype=float).reshape(-1, 4)
        before, after = sign * (r[:, 0] - RANK_MARGIN), sign * (r[:, 1] + RANK_MARGIN)
        obstacles = np.column_stack([np.minimum(before, after), np.maximum(before, after), r[:, 2] - ACROSS_MARGIN, r[:, 3] + ACROSS_MARGIN])
        if sign > 0:
            return [(low, high, _free_places(band)) for low, high, band in merged], obstacles
        return [(-high, -low, _free_places(band)) for low, high, band in reversed(merged)], obstacles

    def _pos(self, points, sign, tip):
        """Bezier control points (t, a) as a Graphviz pos string."""
        xy = [from_rank_across(self.rankdir, sign * t, a) for t, a in points]
        tip_x, tip_y = from_rank_across(self.rankdir, *tip)
        return f"e,{tip_x:.2f},{tip_y:.2f} " + " ".join(f"{x:.2f},{y:.2f}" for x, y in xy)

    def _straight(self, tail, head, arrow):
        """A straight route from the side of `tail` to the side of `head` that face each other."""
        (tx, ty, tw, th), (hx, hy, hw, hh) = tail, head
        dx, dy = hx - tx, hy - ty
        length = max((dx * dx + dy * dy) ** 0.5, 1e-9)

        def leaving(w, h):  # the share of the line between the centres inside a box of size (w, h)
            return min((w / 2) / abs(dx) if dx else float("inf"), (h / 2) / abs(dy) if dy else float("inf"), 0.5)
        s0, s_tip = leaving(tw, th), 1 - leaving(hw, hh)
        s1 = max(s0, s_tip - arrow / length)
        p0 = (tx + dx * s0, ty + dy * s0)
        tip = (tx + dx * s_tip, ty + dy * s_tip)
        return f"e,{tip[0]:.2f},{tip[1]:.2f} " + " ".join(f"{x:.2f},{y:.2f}" for x, y in (p0, *_straight_piece(p0, (tx + dx * s1, ty + dy * s1))))


def _pulled_taut(corners, obstacles):
    """The corners a route keeps when pulled taut: from each kept corner, straight on to the
    farthest corner it can see past every obstacle ((n, 4) array, see _crosses_any)."""
    kept, k = [corners[0]], 0
    while k < len(corners) - 1:
        far = len(corners) - 1
        while far > k + 1 and _crosses_any(corners[k], corners[far], obstacles):
            far -= 1
        kept.append(corners[far])
        k = far
    return kept


def _crosses_any(p, q, rects):
    """Whether the segment p-q runs through the inside of any of `rects`, an (n, 4) array of
    (t low, t high, a low, a high): the segment clipped to each rectangle's slabs, all at once
    (a route between two far ranks passes thousands of boxes)."""
    if not len(rects):
        return False
    lo, hi = 0.0, 1.0
    inside = np.ones(len(rects), dtype=bool)
    for start, delta, low, high in ((p[0], q[0] - p[0], rects[:, 0], rects[:, 1]), (p[1], q[1] - p[1], rects[:, 2], rects[:, 3])):
        if abs(delta) < 1e-12:  # parallel to this slab: inside it or never
            inside &= (low < start) & (start < high)
            continue
        u0, u1 = (low - start) / delta, (high - start) / delta
        lo, hi = np.maximum(lo, np.minimum(u0, u1)), np.minimum(hi, np.maximum(u0, u1))
        inside &= lo < hi
    return bool(inside.any())


def _straight_piece(p, q):
    """The control points after p of a cubic Bezier that is the straight line p-q."""
    return [(p[0] + (q[0] - p[0]) / 3, p[1] + (q[1] - p[1]) / 3), (p[0] + 2 * (q[0] - p[0]) / 3, p[1] + 2 * (q[1] - p[1]) / 3), q]


def _rounded(corners):
    """Bezier control points of a path through `corners`: straight between them, each turn
    begun and ended a little before and after its corner (inside the free room around it)."""
    out = [corners[0]]

    def straight_to(p):
        out.extend(_straight_piece(out[-1], p))

    for before, corner, after in zip(corners, corners[1:], corners[2:]):
        def towards(other):
            dt, da = other[0] - corner[0], other[1] - corner[1]
            length = (dt * dt + da * da) ** 0.5
            room = min(CORNER, length / 2)
            return (corner[0] + dt / length * room, corner[1] + da / length * room) if length else corner
        enter, leave = towards(before), towards(after)
        straight_to(enter)
        out.extend([(enter[0] + 2 * (corner[0] - enter[0]) / 3, enter[1] + 2 * (corner[1] - enter[1]) / 3),
                    (leave[0] + 2 * (corner[0] - leave[0]) / 3, leave[1] + 2 * (corner[1] - leave[1]) / 3), leave])
    straight_to(corners[-1])
    return out


def _free_places(rects):
    """free(a): the place across nearest `a` that none of `rects` (with margins) takes."""
    spans = sorted((r[2] - ACROSS_MARGIN, r[3] + ACROSS_MARGIN) for r in rects)
    starts, ends = [], []
    for low, high in spans:
        if ends and low <= ends[-1]:
            ends[-1] = max(ends[-1], high)
        else:
            starts.append(low)
            ends.append(high)

    def free(a):
        k = bisect_right(starts, a) - 1
        if k < 0 or a >= ends[k]:
            return a
        return starts[k] if a - starts[k] < ends[k] - a else ends[k]
    return free
