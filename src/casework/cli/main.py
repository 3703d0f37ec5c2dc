"""The `casework` command line: one Typer app, one sub-app per area."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

app = typer.Typer(
    help="Casework: adaptive case management on a CMMN 1.1 engine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Sub-apps live in their own modules; importing here keeps `casework --help` complete.
    from casework.cli import conformance_cmd, db_cmd, demo_cmd, model_cmd, worker_cmd

    app.add_typer(model_cmd.app, name="model", help="Validate, import and export case types.")
    app.add_typer(conformance_cmd.app, name="conformance", help="Run CMMN conformance scenarios.")
    app.command("demo", help="Walk a built-in case type through its life in the terminal.")(
        demo_cmd.demo
    )
    app.add_typer(db_cmd.app, name="db", help="Create, migrate and prune the database.")
    app.command("worker", help="Run timers, automated tasks, messages.")(worker_cmd.worker)
    from casework.cli import audit_cmd, case_cmd, ops_cmd

    app.add_typer(case_cmd.app, name="case", help="Open cases, look at them, move work along.")
    app.add_typer(audit_cmd.app, name="audit", help="Verify the hash-chained event log.")
    from casework.cli import report_cmd

    app.add_typer(report_cmd.app, name="report", help="How the cases of a period went.")
    app.add_typer(ops_cmd.projections_app, name="projections", help="Rebuild read projections.")
    app.command("import-log", help="Load an XES event log as historical cases.")(ops_cmd.import_log)
    from casework.cli import init_cmd, serve_cmd, token_cmd, user_cmd

    app.command("serve", help="Run the HTTP server: the REST API.")(serve_cmd.serve)
    from casework.cli import documents_cmd, run_cmd

    app.add_typer(
        documents_cmd.app,
        name="documents",
        help="Empty the documents bin; check the blob store against the database.",
    )
    app.command("run", help="Run the server and a worker, with demo data (make run).")(run_cmd.run)
    app.command("init", help="Migrate the database and create the first admin.")(init_cmd.init)
    app.add_typer(user_cmd.app, name="user", help="Create and list user accounts.")
    app.add_typer(token_cmd.app, name="token", help="Create, list and revoke API tokens.")
    from casework.cli import dmn_cmd

    app.add_typer(dmn_cmd.app, name="dmn", help="Evaluate DMN decisions and run the DMN TCK.")
    from casework.cli import jobs_cmd

    app.add_typer(
        jobs_cmd.app, name="jobs", help="The worker's jobs: what failed and why; retry it."
    )
    from casework.cli import mail_cmd

    app.add_typer(
        mail_cmd.app, name="mail", help="Check the worker's mail: send a test, see outcomes."
    )


_register()


def main(args: Sequence[str] | None = None) -> int:
    """The `casework` program: `app`, with the command line's own errors (an unknown
    option, a missing argument, a value of the wrong type) said in one line, exit status
    2, like every other error of the CLI (`cli.errors.fail`)."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=args, prog_name="casework", standalone_mode=False)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        return 2
    except Exception as exc:
        if not _command_line_error(exc):
            raise
        message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
        ctx = getattr(exc, "ctx", None)
        hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        typer.echo(f"error: {message}{hint}", err=True)
        return 2
    return code if isinstance(code, int) else 0


def _command_line_error(exc: Exception) -> bool:
    # Typer carries its own copy of Click, whose exception classes it does not export:
    # a Click exception is known by its base class.
    return any(klass.__name__ == "ClickException" for klass in type(exc).__mro__)


def run() -> None:
    """The console script's entry point."""
    sys.exit(main())
