"""A command line the CLI cannot read (unknown option, missing argument, a value of the
wrong type, no such command) fails like every other error: one line, exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from casework.cli.main import main


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["case", "list", "--filter", "amount>3"], "No such option: --filter"),
        (["case", "show"], "Missing argument 'case_id'"),
        (["case", "list", "--limit", "lots"], "Invalid value for '--limit'"),
        (["case", "show", "C-1", "C-2"], "unexpected extra argument"),
        (["nosuch"], "No such command 'nosuch'"),
        (["worker", "--once", "--bogus"], "No such option: --bogus"),
    ],
)
def test_a_bad_command_line_is_one_line_and_exit_2(
    args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and says in err, err
    command = " ".join(["casework", *args[:2]]) if args[0] == "case" else "casework"
    assert f"(see {command}" in err


def test_help_and_a_good_command_line_still_work(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["--help"]) == 0
    assert "Usage: casework" in capsys.readouterr().out
    monkeypatch.setenv("CASEWORK_DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    assert main(["db", "upgrade"]) == 0
    assert main(["case", "list"]) == 0
    assert capsys.readouterr().out.strip().endswith("no cases")
    # A command's own error (`cli.errors.fail`) keeps its status through main.
    assert main(["case", "show", "C-NONE"]) == 2
    assert capsys.readouterr().err == "error: no case C-NONE\n"


def test_the_installed_program_is_main() -> None:
    program = Path(sys.executable).with_name("casework")
    done = subprocess.run(
        [str(program), "case", "show"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: Missing argument 'case_id'") and done.stdout == ""
