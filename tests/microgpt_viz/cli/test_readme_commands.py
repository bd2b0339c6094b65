"""Every `microgpt-viz` command in the README's code blocks runs verbatim, in a fresh folder holding names.txt.

Each code block runs in a folder of its own, its commands in order (the second `train` line resumes
from the first one's save). Where the README shows what a `$ ` command prints, the lines shown
must appear in what it prints (a line with `...` only up to the dots). Left out, as the README
says: `gui` (a window), `bench` (minutes of measuring) and `--script` / `script=` lines (they name a script
on the reader's machine). The README's Python block runs too.
"""
import re
import shlex
import shutil
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[3] / "README.md"
SKIPPED_SUBCOMMANDS = {"gui", "bench"}


def code_blocks(text):
    """(language, lines) of each fenced code block."""
    return [(lang, body.splitlines()) for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", text, re.M | re.S)]


def commands_of(lines):
    """[(argv, shown output lines)] of the `microgpt-viz` commands in one block, continuations joined."""
    joined = []
    for line in lines:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + " " + line.strip()
        else:
            joined.append(line)
    commands, prints_shown = [], False
    for line in joined:
        prompted = line.startswith("$ ")
        text = line[2:] if prompted else line
        if text.startswith("microgpt-viz"):
            commands.append((shlex.split(text, comments=True)[1:], []))
            prints_shown = prompted
        elif prompted:
            prints_shown = False
        elif prints_shown:
            commands[-1][1].append(line)
    return commands


def runnable(argv):
    return argv and argv[0] not in SKIPPED_SUBCOMMANDS and not any(a == "--script" or "script=" in a for a in argv)


def readme_blocks():
    """The README's shell blocks that hold runnable commands, as pytest params named by their first command."""
    params = []
    for lang, lines in code_blocks(README.read_text(encoding="utf-8")):
        if lang:
            continue
        commands = [c for c in commands_of(lines) if runnable(c[0])]
        if commands:
            params.append(pytest.param(commands, id=" ".join(commands[0][0][:3])))
    return params


def test_the_readme_shows_commands_of_every_kind_this_test_runs():
    ran = {argv[0] for block in readme_blocks() for argv, _ in block.values[0]}
    assert {"record", "export", "gradcheck", "diff", "train"} <= ran


@pytest.mark.parametrize("commands", readme_blocks())
def test_readme_commands_run_verbatim(commands, cli, names_path, tmp_path):
    shutil.copy(names_path, tmp_path / "names.txt")
    for argv, shown in commands:
        result = cli(*argv, cwd=tmp_path)
        assert result.returncode == 0, (argv, result.stderr)
        for line in shown:
            expected = line.split("...")[0].rstrip()
            if expected:
                assert expected in result.stdout, (argv, expected, result.stdout[:2000])
        outputs = [argv[i + 1] for i, a in enumerate(argv) if a in ("-o", "--save")]
        for output in outputs:
            made = list(tmp_path.glob(output)) + list(tmp_path.glob(_frame_pattern(output)))
            assert made, (argv, output, sorted(p.name for p in tmp_path.rglob("*")))


def _frame_pattern(output):
    """`deck/softmax.png` -> `deck/softmax-*.png`: where --frames writes its frames."""
    stem, dot, suffix = output.rpartition(".")
    return f"{stem}-*{dot}{suffix}"


def test_the_readme_python_block_runs(names_path, tmp_path, monkeypatch):
    blocks = [lines for lang, lines in code_blocks(README.read_text(encoding="utf-8")) if lang == "python"]
    assert blocks
    shutil.copy(names_path, tmp_path / "names.txt")
    monkeypatch.chdir(tmp_path)
    for lines in blocks:
        namespace = {}
        exec(compile("\n".join(lines), str(README), "exec"), namespace)
        assert "rendered" not in namespace or namespace["rendered"].nodes
