"""`from microgpt_viz import show; show(loss)`: the app on a Value of the caller's own.

show() runs the app's event loop until its window closes, so it is tested in a process of its
own, as a user's script or REPL runs it.
"""
import os
import subprocess
import sys
import textwrap

from PyQt6.QtGui import QImage

SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {fixtures!r})
    from micrograd_engine import Value
    from microgpt_viz import show

    w = [Value(0.5), Value(-1.5), Value(2.0)]
    x = [Value(1.0), Value(2.0), Value(-1.0)]
    loss = sum((wi * xi for wi, xi in zip(w, x)), Value(0.0)).relu() + w[0] ** 2
    loss.backward()
    grads = [v.grad for v in w + x]
    status = show(loss, screenshot={png!r})
    print("status", status, "grads kept", grads == [v.grad for v in w + x])
""")


def test_show_renders_a_value_built_here(tmp_path, root, scripts):
    png = tmp_path / "shown.png"
    script = tmp_path / "mine.py"
    script.write_text(SCRIPT.format(fixtures=str(scripts.folder), png=str(png)))
    env = dict(os.environ, PYTHONPATH=str(root), QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "status 0 grads kept True" in result.stdout
    image = QImage(str(png))
    assert not image.isNull() and image.width() >= 1000


def test_show_refuses_what_is_not_a_value(tmp_path, root):
    code = "from microgpt_viz import show\ntry:\n    show(3.0)\nexcept TypeError as e:\n    print('refused:', e)\n"
    env = dict(os.environ, PYTHONPATH=str(root), QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "refused: cannot show a float" in result.stdout, result.stderr
