"""`microgpt-viz gui`: its help, and --select mistakes refused with one line (a process each: the app owns its QApplication)."""
from microgpt_viz.session.select_script import KEYS


def test_help_lists_every_select_key(cli_process):
    done = cli_process("gui", "--help", timeout=120)
    assert done.returncode == 0, done.stderr
    for key in KEYS:
        assert f"\n  {key}=" in done.stdout, key


def test_select_mistakes_exit_2_with_one_line_and_no_picture(tmp_path, cli_process):
    data = tmp_path / "names.txt"
    data.write_text("emma\nolivia\nava\nmia\n")
    out = tmp_path / "shot.png"
    for select, fragment in (("expand=pos3/layer0/atn", "pos3/layer0/attn"), ("node=99999999", "no such node")):
        done = cli_process("gui", "--data", data, "--screenshot", out, "--select", select, timeout=300)
        done.assert_one_line_error(fragment)
        assert not out.exists()


def test_gui_opens_on_a_later_step_of_a_users_script(tmp_path, cli_process, scripts):
    data = tmp_path / "names.txt"
    data.write_text("emma\nolivia\nava\nmia\nisabella\nsophia\n")
    out = tmp_path / "script.png"
    done = cli_process("gui", "--script", scripts.tuples, "--script-args", f"{data} 6", "--at-backward", 3,
                       "--screenshot", out, "--select", "cell=0:1:2:1", timeout=300)
    assert done.returncode == 0, done.stderr
    from PyQt6.QtGui import QImage

    assert not QImage(str(out)).isNull()  # the attention cell exists: the script's attention was found


def test_gui_takes_the_built_in_models_data_beside_a_script_and_pins_its_step(tmp_path, cli_process, scripts):
    data = tmp_path / "names.txt"
    data.write_text("emma\nolivia\nava\nmia\nisabella\nsophia\n")
    out = tmp_path / "pinned.png"
    done = cli_process("gui", "--script", scripts.tuples, "--script-args", f"{data} 6", "--data", data,
                       "--screenshot", out, "--select", "steps=2,pin=microgpt,grab=diff", timeout=300)
    assert done.returncode == 0, done.stderr
    assert out.exists()
    no_script = cli_process("gui", "--data", data, "--screenshot", out, "--select", "pin=microgpt", timeout=120)
    no_script.assert_one_line_error("no script's step is shown")
