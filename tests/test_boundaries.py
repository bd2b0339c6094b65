import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_core_imports_and_records_with_qt_unavailable():
    script = textwrap.dedent(
        """
        import sys, importlib, pkgutil

        class BlockQt:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("PyQt6", "pyqtgraph", "PySide6", "PyQt5"):
                    raise ImportError(f"{name} is blocked in this test")
                return None

        sys.meta_path.insert(0, BlockQt())
        import core
        for info in pkgutil.iter_modules(core.__path__):
            importlib.import_module(f"core.{info.name}")
        from core.engine.train import Trainer
        from core.engine.config import preset
        trace = Trainer(["abc", "bca"], preset("original")).record()
        assert trace.num_nodes > 100
        import microgpt_viz.cli.main  # the CLI itself must not need Qt either
        assert not [m for m in sys.modules if m.startswith(("PyQt6", "pyqtgraph"))]
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
