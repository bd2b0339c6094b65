"""Diagrams of a view at chosen positions of backward, for a slide deck of gradient flow.

Each frame is the same rendered view recoloured by core.debug.replay (grads as they stand after
backward has visited k nodes). For the frames to play as one animation they must agree:
- one colour scale, the finished step's, so a box's colour means the same in every frame;
- one layout: Graphviz sizes a value's box by its text, and `grad 0` is narrower than
  `grad -0.0002956`, so every box is fixed at the largest size it takes in any frame; so is
  the heading, whose line on backward's position changes length, since Graphviz centres
  the drawing under a heading wider than the drawing.
A box backward has not reached yet is drawn grey and dashed, apart from one with a small grad
(core.debug.replay.unreached_boxes; the heading says so while there are such boxes).

`animated_gif` puts frames drawn as PNG together into one animated GIF.
"""
import io
import json
from dataclasses import replace

from core.views.export import MAX_NODES, colour_scale, to_dot
from core.views.layout import GraphvizNotFound, run_dot
from core.debug.replay import describe_position, regraded, trace_at, unreached_boxes

FRAME_MS = 900  # how long a GIF shows each frame
LAST_FRAME_MS = 3000  # and the last, the finished grads, before it starts over


def replay_sources(rendered, trace, positions, theme_name="light", rankdir="LR", color_by="absgrad", title=None,
                   max_nodes=MAX_NODES):
    """DOT source of `rendered` (a view of `trace`) at each backward position in `positions`.

    The title gets a line saying where backward stands. Boxes are fixed to one size across
    frames when they show numbers and Graphviz is there to measure them; without Graphviz
    the sources are still valid DOT, only free to lay out frame by frame.
    """
    scale = colour_scale(rendered, color_by)
    frames = [(regraded(rendered, trace_at(trace, k)), _title(title, trace, k),
               replace(scale, unreached=unreached_boxes(rendered, trace, k)) if scale is not None else None) for k in positions]

    def sources(sizes=None, heading_size=None):
        return [to_dot(frame, theme_name, rankdir, color_by, text, max_nodes, scale=frame_scale, sizes=sizes,
                       heading_size=heading_size) for frame, text, frame_scale in frames]

    plain = sources()
    try:
        sizes, heading_size = _largest_sizes(plain)
    except GraphvizNotFound:
        return plain
    return sources(sizes, heading_size)


def _title(title, trace, k):
    where = describe_position(trace, k)
    return f"{title}\n{where}" if title else where


def _largest_sizes(sources):
    """(visible id -> (width, height), (width, height) of the heading), in inches: the largest in any source."""
    sizes, heading = {}, (0.0, 0.0)
    for source in sources:
        laid_out = json.loads(run_dot(source, "json0", timeout=120))
        heading = (max(heading[0], float(laid_out.get("lwidth", 0))), max(heading[1], float(laid_out.get("lheight", 0))))
        for obj in laid_out.get("objects", ()):
            if "width" not in obj or "nodes" in obj:  # clusters list their nodes; boxes have a width
                continue
            w, h = float(obj["width"]), float(obj["height"])
            old = sizes.get(obj["name"], (0.0, 0.0))
            sizes[obj["name"]] = (max(w, old[0]), max(h, old[1]))
    return sizes, heading


def animated_gif(pngs, background, frame_ms=FRAME_MS, last_frame_ms=LAST_FRAME_MS):
    """Bytes of one looping animated GIF of the PNG images `pngs`, in order.

    Frames smaller than the largest are padded with `background` (a Graphviz / CSS colour name
    or '#rrggbb') at the right and bottom, so the heading stays put. Every frame shares one
    palette, so a fill keeps its colour from frame to frame.
    """
    from PIL import Image  # only GIFs need Pillow

    images = [Image.open(io.BytesIO(png)).convert("RGB") for png in pngs]
    width, height = max(i.width for i in images), max(i.height for i in images)
    padded = []
    for image in images:
        canvas = Image.new("RGB", (width, height), background)
        canvas.paste(image, (0, 0))
        padded.append(canvas)
    palette = _shared_palette(padded)
    frames = [image.quantize(palette=palette, dither=Image.Dither.NONE) for image in padded]
    out = io.BytesIO()
    durations = [frame_ms] * (len(frames) - 1) + [last_frame_ms]
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return out.getvalue()


def _shared_palette(images):
    """A 256-colour palette image for all `images`, chosen from every fourth pixel of each (nearest,
    not blended, so that the palette holds the fills themselves)."""
    from PIL import Image

    step = 4
    thumbs = [image.resize((max(1, image.width // step), max(1, image.height // step)), Image.Resampling.NEAREST)
              for image in images]
    strip = Image.new("RGB", (thumbs[0].width, sum(t.height for t in thumbs)))
    top = 0
    for thumb in thumbs:
        strip.paste(thumb, (0, top))
        top += thumb.height
    return strip.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
