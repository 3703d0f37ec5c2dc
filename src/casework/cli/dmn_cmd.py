"""`casework dmn`: evaluate DMN decisions and run the DMN TCK."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from casework.cli.errors import fail

if TYPE_CHECKING:
    from casework.dmn import CompiledModel

app = typer.Typer(no_args_is_help=True)


@app.command("tck")
def tck(
    folder: Path = typer.Argument(
        ..., help="A TCK folder: model folders holding NNNN-name.dmn and *-test-NN.xml files."
    ),
) -> None:
    """Run DMN TCK test cases: one PASS/FAIL line per case, then `N passed, M failed`."""
    from casework.dmn.tck import find_test_files, run_tck

    if not folder.exists():
        fail(f"no such file or folder: {folder}")
    if not find_test_files(folder):
        fail(f"{folder}: no TCK test files (*-test-NN.xml) found")
    report = run_tck(folder, typer.echo)
    typer.echo(report.summary())
    if report.failed:
        raise typer.Exit(code=1)


@app.command("eval")
def evaluate(
    file: Path = typer.Argument(..., help="A DMN 1.1-1.5 model (.dmn)."),
    decision: str = typer.Option(..., "--decision", "-d", help="Decision name or id."),
    inputs: str = typer.Option(
        "{}",
        "--input",
        "-i",
        help="Input data as a JSON object, e.g. '{\"Age\": 17}'. An imported model's input "
        'data go in an object named after the import: \'{"lib": {"Rate": 2}}\'.',
    ),
    imports: list[Path] = typer.Option(
        [],
        "--with",
        "-w",
        metavar="PATH",
        help="A model that FILE imports: a .dmn file, or a folder (every .dmn file under it). "
        "Repeat for several; imports are matched by namespace.",
    ),
    explain: bool = typer.Option(
        False, "--explain", help="Also show the inputs, matched rules and required decisions."
    ),
) -> None:
    """Evaluate one decision and print its result as JSON."""
    from casework.dmn import DmnError, compile_decision, load_models
    from casework.dmn.values import parse_json

    try:
        values = parse_json(inputs)
    except json.JSONDecodeError as exc:
        fail(f"--input: not valid JSON: {exc.msg} (column {exc.colno})")
    if not isinstance(values, dict):
        fail("--input: expected a JSON object such as '{\"Age\": 17}'")
    try:
        models = load_models(*imports)
        definitions = models.load(file)  # the same file given with --with is read once
    except DmnError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.filename or file}: cannot read: {exc.strerror or exc}")
    try:
        compiled = compile_decision(definitions, decision, models)
    except DmnError as exc:
        unresolved = not imports and "import" in exc.message
        fail(f"{exc}; give the models it imports with --with" if unresolved else str(exc))
    result = compiled.evaluate(_typed(compiled.model.group, values))
    out: dict[str, Any] = result.to_dict()
    if not explain:
        out = {k: out[k] for k in ("decision", "value", "warnings")}
    typer.echo(json.dumps(out, indent=2, ensure_ascii=False, default=_number))


def _typed(model: CompiledModel, values: dict[str, Any]) -> dict[str, Any]:
    """JSON strings for inputs declared as dates, times or durations, read as such (the
    imported models' input data included)."""
    from casework.dmn.imports import typed_inputs
    from casework.dmn.values import from_text

    return typed_inputs(model, values, lambda v, ref, types: from_text(v, types.base_type(ref)))


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")
