"""`casework model validate | import | export` on the command line."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casework.cli.main import app
from casework.model.yaml_loader import load_yaml
from casework.templates import template_text

runner = CliRunner()

GOOD = """\
name: Claim
plan:
  items:
    - task: Assess claim
    - task: Pay
      after: Assess claim
"""
BAD = """\
name: Claim
plan:
  items:
    - task: Assess claim
      entry_when: x
"""

needs_cmmn = pytest.mark.skipif(
    importlib.util.find_spec("casework.model.cmmn_import") is None
    or importlib.util.find_spec("casework.model.cmmn_export") is None,
    reason="CMMN import/export not available yet",
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_validate_prints_ok_for_each_good_file(tmp_path: Path) -> None:
    a, b = write(tmp_path, "a.yaml", GOOD), write(tmp_path, "b.yml", GOOD)
    result = runner.invoke(app, ["model", "validate", str(a), str(b)])
    assert result.exit_code == 0
    assert result.stdout == f"ok {a}\nok {b}\n"


def test_validate_prints_the_one_line_error_and_exits_2(tmp_path: Path) -> None:
    good, bad = write(tmp_path, "good.yaml", GOOD), write(tmp_path, "bad.yaml", BAD)
    result = runner.invoke(app, ["model", "validate", str(bad), str(good)])
    assert result.exit_code == 2
    assert result.stdout == f"ok {good}\n"
    [line] = result.stderr.splitlines()
    assert line.startswith(f"{bad}:5:7: unknown key 'entry_when' in task 'Assess claim'")


def test_validate_reports_unreadable_files_and_carries_on(tmp_path: Path) -> None:
    good = write(tmp_path, "good.yaml", GOOD)
    missing = tmp_path / "missing.yaml"
    result = runner.invoke(app, ["model", "validate", str(missing), str(good)])
    assert result.exit_code == 2
    assert result.stdout == f"ok {good}\n"
    assert result.stderr.startswith(f"{missing}: cannot read:")


def test_validate_never_shows_a_traceback_for_garbage(tmp_path: Path) -> None:
    junk = tmp_path / "junk.yaml"
    junk.write_bytes(b"\xff\xfe\x00garbage")
    result = runner.invoke(app, ["model", "validate", str(junk)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.stderr.startswith(f"{junk}:")


def test_validate_accepts_the_built_in_templates(tmp_path: Path) -> None:
    path = write(tmp_path, "claim.yaml", template_text("insurance_claim"))
    assert runner.invoke(app, ["model", "validate", str(path)]).exit_code == 0


def test_export_yaml_writes_the_normalised_form(tmp_path: Path) -> None:
    src = write(tmp_path, "claim.yaml", GOOD)
    result = runner.invoke(app, ["model", "export", str(src), "--format", "yaml"])
    assert result.exit_code == 0
    assert load_yaml(result.stdout) == load_yaml(GOOD)
    assert result.stdout.startswith("id: claim\nname: Claim\nversion: 1\n")


def test_export_fails_in_one_line_on_a_bad_file(tmp_path: Path) -> None:
    src = write(tmp_path, "bad.yaml", BAD)
    result = runner.invoke(app, ["model", "export", str(src)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {src}:5:7: unknown key 'entry_when'")
    assert len(result.stderr.splitlines()) == 1


def test_export_of_a_missing_file_fails_cleanly(tmp_path: Path) -> None:
    result = runner.invoke(app, ["model", "export", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


@needs_cmmn
def test_export_then_import_gives_back_the_same_case_type(tmp_path: Path) -> None:
    src = write(tmp_path, "claim.yaml", template_text("insurance_claim"))
    xml = tmp_path / "claim.cmmn"
    result = runner.invoke(app, ["model", "export", str(src), "--out", str(xml)])
    assert result.exit_code == 0, result.output
    assert xml.read_text(encoding="utf-8").lstrip().startswith("<?xml")
    out = tmp_path / "imported"
    result = runner.invoke(
        app, ["model", "import", str(xml), "--dialect", "casework", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote {out / 'insurance_claim.yaml'}\n"
    imported = load_yaml((out / "insurance_claim.yaml").read_text(encoding="utf-8"))
    assert imported == load_yaml(template_text("insurance_claim"))


@needs_cmmn
def test_validate_reads_cmmn_xml_by_extension_or_content(tmp_path: Path) -> None:
    src = write(tmp_path, "claim.yaml", GOOD)
    xml = tmp_path / "claim.cmmn"
    assert runner.invoke(app, ["model", "export", str(src), "--out", str(xml)]).exit_code == 0
    odd = write(tmp_path, "claim.model", xml.read_text(encoding="utf-8"))
    result = runner.invoke(app, ["model", "validate", "--dialect", "casework", str(xml), str(odd)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"ok {xml}\nok {odd}\n"


@needs_cmmn
def test_import_of_broken_xml_fails_in_one_line(tmp_path: Path) -> None:
    xml = write(tmp_path, "broken.cmmn", "<definitions><case>")
    result = runner.invoke(app, ["model", "import", str(xml), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.output


def test_import_rejects_an_unknown_dialect(tmp_path: Path) -> None:
    xml = write(tmp_path, "x.cmmn", "<definitions/>")
    result = runner.invoke(app, ["model", "import", str(xml), "--dialect", "jbpm"])
    assert result.exit_code == 2
