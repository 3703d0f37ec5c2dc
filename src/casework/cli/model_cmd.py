"""`casework model`: validate case types, and convert between our YAML and CMMN 1.1 XML."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from casework.cli.common import DatabaseUrl, Json, database, now, operator, print_json
from casework.cli.errors import fail
from casework.model.definitions import CaseDefinition, Dialect
from casework.model.errors import ModelError

app = typer.Typer(no_args_is_help=True)

_YAML_SUFFIXES = (".yaml", ".yml")
_XML_SUFFIXES = (".cmmn", ".xml", ".cmmn11")


class ImportDialect(StrEnum):
    CASEWORK = "casework"
    FLOWABLE = "flowable"
    CAMUNDA7 = "camunda7"


class ExportFormat(StrEnum):
    CMMN = "cmmn"
    YAML = "yaml"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror or exc}")


def _is_xml(path: Path, data: bytes) -> bool:
    suffix = path.suffix.lower()
    if suffix in _YAML_SUFFIXES:
        return False
    if suffix in _XML_SUFFIXES:
        return True
    # Unknown extension: XML documents start with '<' once a BOM and blanks are skipped.
    return data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def _text(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ModelError(f"not UTF-8 text (byte {exc.start})", source=str(path)) from None


def _load(path: Path, data: bytes, dialect: Dialect) -> list[CaseDefinition]:
    """Every case type in the file, validated; ModelError on the first problem."""
    from casework.services.case_types import loop_problem

    if not _is_xml(path, data):
        from casework.model.yaml_loader import load_yaml

        defs = [load_yaml(_text(path, data), source=str(path))]
    else:
        from casework.model.cmmn_import import import_cmmn
        from casework.model.validate import validate_definition

        defs = import_cmmn(data, dialect=dialect, source=str(path))
        for defn in defs:
            errors = validate_definition(defn)
            if errors:
                raise ModelError(f"case '{defn.id}': {errors[0].message}", source=str(path))
    for defn in defs:
        problem = loop_problem(defn)
        if problem is not None:
            raise ModelError(problem, source=str(path))
    return defs


def _guarded(path: Path, data: bytes, dialect: Dialect) -> list[CaseDefinition]:
    try:
        return _load(path, data, dialect)
    except ModelError:
        raise
    except ImportError as exc:
        raise ModelError(f"CMMN support is not available: {exc}", source=str(path)) from None
    except Exception as exc:  # never a traceback on the command line
        raise ModelError(f"internal error: {type(exc).__name__}: {exc}", source=str(path)) from None


@app.command("validate")
def validate(
    paths: Annotated[list[Path], typer.Argument(help="YAML case types or CMMN 1.1 XML files.")],
    dialect: Annotated[
        ImportDialect, typer.Option(help="Whose behaviour CMMN XML files were written for.")
    ] = ImportDialect.FLOWABLE,
) -> None:
    """Check case type files; print `ok PATH` or the first error of each. Exit 2 on any error."""
    failed = False
    for path in paths:
        try:
            _guarded(path, path.read_bytes(), Dialect(dialect.value))
        except OSError as exc:
            typer.echo(f"{path}: cannot read: {exc.strerror or exc}", err=True)
            failed = True
            continue
        except ModelError as exc:
            typer.echo(str(exc), err=True)
            failed = True
            continue
        typer.echo(f"ok {path}")
    if failed:
        raise typer.Exit(code=2)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A CMMN 1.1 XML file.")],
    dialect: Annotated[
        ImportDialect, typer.Option(help="The engine the model was written for.")
    ] = ImportDialect.FLOWABLE,
    out: Annotated[Path, typer.Option(help="Directory for the YAML files, one per case.")] = Path(
        "."
    ),
) -> None:
    """Convert CMMN 1.1 XML to Casework YAML case types."""
    data = _read(file)
    try:
        defs = _guarded(file, data, Dialect(dialect.value))
        from casework.model.yaml_loader import dump_yaml

        texts = [(defn.id, dump_yaml(defn)) for defn in defs]
    except ModelError as exc:
        fail(str(exc))
    if not texts:
        fail(f"{file}: no <case> in the document")
    _write_all(out, texts)


def _write_all(out: Path, texts: Sequence[tuple[str, str]]) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        for case_id, text in texts:
            target = out / f"{case_id}.yaml"
            target.write_text(text, encoding="utf-8")
            typer.echo(f"wrote {target}")
    except OSError as exc:
        fail(f"{out}: cannot write: {exc.strerror or exc}")


@app.command("export")
def export(
    file: Annotated[Path, typer.Argument(help="A YAML case type (or CMMN XML to normalise).")],
    format: Annotated[ExportFormat, typer.Option(help="What to write.")] = ExportFormat.CMMN,
    out: Annotated[
        Path | None, typer.Option(help="File to write; standard output when omitted.")
    ] = None,
) -> None:
    """Convert a case type to CMMN 1.1 XML (or to normalised YAML)."""
    data = _read(file)
    try:
        defs = _guarded(file, data, Dialect.CASEWORK)
        if format is ExportFormat.YAML:
            from casework.model.yaml_loader import dump_yaml

            text = "---\n".join(dump_yaml(d) for d in defs)
        else:
            from casework.model.cmmn_export import export_cmmn

            text = export_cmmn(defs)
    except ModelError as exc:
        fail(str(exc))
    except ImportError as exc:
        fail(f"CMMN export is not available: {exc}")
    except Exception as exc:
        fail(f"{file}: internal error: {type(exc).__name__}: {exc}")
    if out is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"{out}: cannot write: {exc.strerror or exc}")
    typer.echo(f"wrote {out}")


@app.command("deploy")
def deploy(
    file: Annotated[Path, typer.Argument(help="A YAML case type or a CMMN 1.1 XML file.")],
    dialect: Annotated[
        ImportDialect | None,
        typer.Option(help="Whose behaviour CMMN XML was written for (default: flowable)."),
    ] = None,
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """Store a new version of each case type in FILE; new cases start on the newest."""
    from casework.services import case_types

    data = _read(file)
    try:
        source = _text(file, data)
    except ModelError as exc:
        fail(str(exc))
    fmt = "cmmn" if _is_xml(file, data) else "yaml"
    with database(database_url) as db:
        deployed = case_types.deploy(
            db,
            actor=operator(),
            source=source,
            now=now(),
            fmt=fmt,
            dialect=dialect.value if dialect else None,
        )
    if json_out:
        print_json([dataclasses.asdict(d) for d in deployed])
        return
    for d in deployed:
        what = "deployed" if d.created else "unchanged, already"
        typer.echo(f"{what} {d.type_id} version {d.version} ({d.name})")


@app.command("migrate")
def migrate(
    type_id: Annotated[str, typer.Argument(help="The case type.")],
    from_version: Annotated[int, typer.Option("--from", help="The version its cases run.")],
    to_version: Annotated[int, typer.Option("--to", help="The version to move them to.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say which cases fit and what they would get.")
    ] = False,
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """Move every case of a version that is not closed to another version of its type,
    one at a time; a case whose history does not fit stays where it was (exit 1)."""
    from casework.cli.common import progress_bar
    from casework.services import case_migration

    with database(database_url) as db, progress_bar() as progress:
        task = progress.add_task(f"migrating {type_id} cases", total=None)
        report = case_migration.migrate_cases(
            db,
            actor=operator(),
            type_id=type_id,
            from_version=from_version,
            to_version=to_version,
            now=now(),
            dry_run=dry_run,
            on_total=lambda total: progress.update(task, total=total),
            on_case=lambda _case, _done: progress.advance(task),
        )
    if json_out:
        print_json(
            {
                "migrated": [dataclasses.asdict(m) for m in report.migrated],
                "refused": report.refused,
                "dry_run": dry_run,
            }
        )
    else:
        verb = "would move" if dry_run else "moved"
        typer.echo(
            f"{verb} {len(report.migrated)} {type_id} case(s) from version {from_version} "
            f"to {to_version}; {len(report.refused)} refused"
        )
        for case_id, reason in report.refused.items():
            typer.echo(f"  {case_id}: {reason}")
    if report.refused:
        raise typer.Exit(1)


@app.command("list")
def list_(database_url: DatabaseUrl = None, json_out: Json = False) -> None:
    """The deployed case types, every version."""
    from casework.services import case_types

    with database(database_url) as db, db() as session:
        rows: list[dict[str, Any]] = [
            {
                "type_id": r.type_id,
                "version": r.version,
                "name": r.name,
                "format": r.source_format,
                "dialect": r.dialect,
                "deployed_at": r.deployed_at,
                "deployed_by": r.deployed_by,
            }
            for r in case_types.list_versions(session)
        ]
    if json_out:
        print_json(rows)
        return
    if not rows:
        typer.echo("no case types deployed (casework model deploy FILE)")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("type", "version", "name", "format", "deployed", "by")
    for r in rows:
        table.add_row(
            r["type_id"],
            str(r["version"]),
            r["name"],
            r["format"],
            f"{r['deployed_at']:%Y-%m-%d %H:%M}",
            r["deployed_by"],
        )
    Console().print(table)
