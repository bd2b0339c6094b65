"""`microgpt-viz export` pictures as a viewer sees them: whole SVGs (drawn by Qt's SVG renderer),
--fit and the slides theme's 16:9 box, and animated GIFs of backward, in folders made as needed."""
import shutil
import struct

import pytest

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
HEAD = ["--doc", "emma", "--preset", "latest", "--token", "1", "--scope", "pos1/layer0/attn/head2"]


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def svg_as_image(path):
    """The SVG drawn by QtSvg at its own size onto a transparent image."""
    from PyQt6.QtGui import QColor, QGuiApplication, QImage, QPainter
    from PyQt6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 (QtSvg needs one)
    renderer = QSvgRenderer(str(path))
    assert renderer.isValid()
    size = renderer.defaultSize()
    image = QImage(size.width(), size.height(), QImage.Format.Format_ARGB32)
    image.fill(QColor(0, 0, 0, 0))
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    return image


@needs_dot
@pytest.mark.parametrize("view", [["--level", "scalar"], ["--level", "module", "--scope", "pos1"]])
def test_svg_is_drawn_whole_by_a_viewer(cli, four_names, tmp_path, view):
    out = tmp_path / "head.svg"
    cli("export", "--data", four_names, *HEAD[:-2], *(view if "--scope" in view else HEAD[-2:] + view), "-o", out)
    image = svg_as_image(out)
    w, h = image.width(), image.height()
    background = image.pixelColor(w // 2, 2)
    assert background.alpha() == 255 and background.name() == "#ffffff"
    corners = [(2, 2), (w - 3, 2), (2, h - 3), (w - 3, h - 3)]
    for x, y in corners:
        assert image.pixelColor(x, y) == background, (x, y)  # painted, with the page colour
    # nothing is cut off: the page's margin runs round the drawing (a cropped one reaches the edges).
    # QtSvg reads no font-family list and draws in a wider fallback font, so the heading's long
    # legend line may run into the right margin: below the heading, the margin is checked there too.
    margin = 10
    for x in range(0, w, 3):
        for y in list(range(margin)) + list(range(h - margin, h)):
            assert image.pixelColor(x, y) == background, (x, y)
    for y in range(0, h, 3):
        for x in list(range(margin)) + (list(range(w - margin, w)) if y > 0.15 * h else []):
            assert image.pixelColor(x, y) == background, (x, y)


@needs_dot
def test_fit_scales_into_the_box_and_warns_of_small_text(cli, four_names, tmp_path):
    from PIL import Image

    out = tmp_path / "cone.png"
    small = cli("export", "--data", four_names, "--doc", "emma", "--token", "2", "--fit", "640x480", "-o", out)
    assert small.returncode == 0, small.stderr
    width, height = png_size(out.read_bytes())
    assert width <= 640 and height <= 480 and (width >= 638 or height >= 478)
    warning = small.stderr.strip().splitlines()
    assert len(warning) == 1 and "under 12 px" in warning[0] and "--level" in warning[0] and "--scope" in warning[0]
    big = cli("export", "--data", four_names, *HEAD, "--level", "vector", "--fit", "3000x3000", "-o", out)
    assert big.returncode == 0 and big.stderr == ""  # scaled up: text is large, nothing to say
    with Image.open(out) as image:
        width, height = image.size
    assert max(width, height) >= 2998 and width <= 3000 and height <= 3000


@pytest.mark.parametrize("value", ["10", "0x5", "1920x", "axb", "-5x10"])
def test_bad_fit_is_an_argument_error(cli, four_names, tmp_path, value):
    result = cli("export", "--data", four_names, "--doc", "emma", "--fit", value, "-o", tmp_path / "x.png")
    result.assert_one_line_error("--fit")
    assert not (tmp_path / "x.png").exists()


def test_fit_does_not_apply_to_dot(cli, four_names, tmp_path):
    cli("export", "--data", four_names, "--doc", "emma", "--fit", "800x600", "-o", tmp_path / "x.dot").assert_one_line_error("not dot")


@needs_dot
def test_slides_fill_a_16_to_9_box(cli, four_names, tmp_path):
    out = tmp_path / "t2.png"
    result = cli("export", "--data", four_names, "--doc", "emma", "--token", "2", "--theme", "slides", "-o", out)
    assert result.returncode == 0, result.stderr
    width, height = png_size(out.read_bytes())
    assert width <= 1920 and height <= 1080 and (width >= 1918 or height >= 1078)
    for rankdir in ("TB", "LR"):
        other = tmp_path / f"{rankdir}.png"
        assert cli("export", "--data", four_names, "--doc", "emma", "--token", "2", "--theme", "slides",
                   "--rankdir", rankdir, "-o", other).returncode == 0
    # without --rankdir the slides theme draws one of the two directions, fitted like the others
    assert out.read_bytes() in {(tmp_path / f"{r}.png").read_bytes() for r in ("TB", "LR")}


@needs_dot
def test_frames_make_one_animated_gif_in_a_new_folder(cli, four_names, tmp_path):
    from PIL import Image, ImageChops

    out = tmp_path / "deck" / "x.gif"
    result = cli("export", "--data", four_names, *HEAD, "--level", "vector", "--frames", "6", "-o", out)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "deck").is_dir() and sorted(p.name for p in (tmp_path / "deck").iterdir()) == ["x.gif"]
    frames = []
    with Image.open(out) as gif:
        assert gif.format == "GIF" and gif.n_frames == 6 and gif.is_animated
        for i in range(gif.n_frames):
            gif.seek(i)
            frames.append(gif.convert("RGB"))
    assert len({f.size for f in frames}) == 1
    for a, b in zip(frames, frames[1:]):
        assert ImageChops.difference(a, b).getbbox() is not None  # each frame shows another moment


def test_output_folders_are_made_or_the_reason_is_said(cli, four_names, tmp_path):
    out = tmp_path / "a" / "b" / "cone.dot"
    assert cli("export", "--data", four_names, "--doc", "emma", "-o", out).returncode == 0
    assert out.read_text().startswith("digraph")
    blocker = tmp_path / "notes.txt"
    blocker.write_text("")
    cli("export", "--data", four_names, "--doc", "emma", "-o", blocker / "deck" / "x.dot").assert_one_line_error(
        f"{blocker} is a file")
