"""The `nurture` command: database, users, API keys, CSV import, worker, scheduler, run everything."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

import worker
from campaigns.delivery import bounces
from campaigns.demo import seed_demo
from campaigns.leads import unsubscribe_mail
from campaigns.leads.contacts import ContactError
from campaigns.leads.imports import preview_import, run_import, start_import
from campaigns.migrate import upgrade
from campaigns.models import Broadcast, ImportJob
from campaigns.runtime import services
from campaigns.supervisor import run_all
from campaigns.users import create_api_key, create_user
from wsgi import create_app


def _app() -> Any:

    return create_app()


@click.group()
def main() -> None:
    """Nurture: self-hosted email nurturing."""


@main.command("init-db")
def init_db() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""

    app = _app()
    with app.app_context():
        upgrade(app.extensions["nurture"].settings.database_url)
    click.echo("database is up to date")


@main.command("create-user")
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--name", default="")
def create_user_cmd(email: str, password: str, name: str) -> None:
    """Create a user who can log in to the web UI."""

    with _app().app_context():
        with services().db.begin() as s:
            create_user(s, email, password, name)
    click.echo(f"created user {email}")


@main.command("create-api-key")
@click.option("--name", default="default")
def create_api_key_cmd(name: str) -> None:
    """Create an API key; the key is printed alone on the last line."""

    with _app().app_context():
        with services().db.begin() as s:
            key = create_api_key(s, name)
    click.echo(f"API key {name!r} created; it is shown only once:")
    click.echo(key)


@main.command("worker")
@click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
def worker_cmd(burst: bool) -> None:
    """Run an RQ worker that delivers mail."""

    worker.run_worker(burst=burst)


@main.command("scheduler")
@click.option("--interval", default=2.0, show_default=True)
def scheduler_cmd(interval: float) -> None:
    """Run the scheduler loop (due steps, broadcasts, reconciliation)."""

    worker.run_scheduler(interval=interval)


@main.command("seed-demo")
def seed_demo_cmd() -> None:
    """Load demo data: contacts, two templates, one active sequence, a demo user."""

    with _app().app_context():
        summary = seed_demo(services())
    click.echo(summary)


@main.command("run")
@click.option("--port", default=8000, show_default=True)
@click.option("--demo/--no-demo", default=True, show_default=True, help="Seed demo data on first start.")
def run_cmd(port: int, demo: bool) -> None:
    """Start everything: web UI, worker, scheduler, dev outbox SMTP and a local Redis if needed."""

    sys.exit(run_all(port=port, demo=demo))


@main.command("import-csv")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--update/--skip", "update_existing", default=True, show_default=True,
              help="Update contacts that already exist (and rows repeated in the file), or skip them.")
@click.option("--dry-run", is_flag=True, help="Check the whole file and print what would happen; write nothing.")
@click.option("--source", default="", help="Where these contacts came from (recorded with their consent).")
@click.option("--map", "maps", multiple=True, metavar="HEADER=FIELD",
              help="Map a column, e.g. --map 'メールアドレス=email' --map Plan=attributes.plan; "
                   "FIELD '' ignores it. Unmapped columns use the suggested mapping.")
@click.option("--encoding", type=click.Choice(["auto", "utf-8", "cp932"]), default="auto", show_default=True)
@click.option("--consent-text", default="", help="The consent wording shown when the addresses were collected.")
def import_csv_cmd(
    path: str, update_existing: bool, dry_run: bool, source: str, maps: tuple[str, ...], encoding: str,
    consent_text: str,
) -> None:
    """Import contacts from a CSV file (UTF-8 or Shift_JIS/CP932), in this process."""

    with _app().app_context():
        svc = services()
        try:
            head = preview_import(path, {"encoding": encoding}, None, limit=0)
            mapping = dict(head["suggested_mapping"])
            for item in maps:
                header, sep, target = item.partition("=")
                if not sep or header.strip() not in head["headers"]:
                    raise click.UsageError(f"--map {item!r}: no column named {header.strip()!r}")
                mapping[str(head["headers"].index(header.strip()))] = target.strip()
            options = {"mapping": mapping, "mode": "update" if update_existing else "skip", "source": source,
                       "encoding": encoding, "consent_text": consent_text}
            click.echo(f"encoding: {head['encoding']}")
            for index, header in enumerate(head["headers"]):
                click.echo(f"  {header or '#' + str(index + 1)} -> {mapping.get(str(index)) or '(ignored)'}")
            if dry_run:
                with svc.db.begin() as s:
                    result = preview_import(path, options, s)
                    s.rollback()
                if result["fatal"]:
                    raise click.ClickException(result["fatal"])
                click.echo(
                    f"rows: {result['rows']}  would create: {result['would_create']}  "
                    f"would update: {result['would_update']}  would skip: {result['would_skip']}  "
                    f"duplicates in file: {result['duplicates']}  errors: {result['failed']}"
                )
                errors = result["errors"]
            else:
                with svc.db.begin() as s:
                    job_id = start_import(s, os.path.abspath(path), os.path.basename(path), options).id
                run_import(svc, job_id)
                with svc.db.begin() as s:
                    job = s.get(ImportJob, job_id)
                    assert job is not None
                    if job.message:
                        raise click.ClickException(job.message)
                    click.echo(
                        f"import #{job.id} {job.status}: rows: {job.processed}  created: {job.created}  "
                        f"updated: {job.updated}  skipped: {job.skipped}  duplicates in file: {job.duplicates}  "
                        f"errors: {job.failed}"
                    )
                    errors = list(job.errors)
        except ContactError as exc:
            raise click.ClickException(str(exc)) from None
        for err in errors[:100]:
            click.echo(f"line {err['line']}: {err['reason']} ({err['email']})", err=True)
        if len(errors) > 100:
            click.echo(f"... and more: {len(errors)} errors listed", err=True)


@main.command("process-bounces")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--delete", is_flag=True, help="Delete each message file after it was processed (maildir, files).")
def process_bounces_cmd(paths: tuple[str, ...], delete: bool) -> None:
    """Read bounce mail (DSN, ARF complaints) and mailto unsubscribe requests from maildirs, mbox files or
    message files and record them."""

    with _app().app_context():
        svc = services()
        results = []
        for path in paths:
            for name, raw in bounces.read_messages(Path(path)):
                reports = bounces.parse_bounce_message(raw)
                if not reports:
                    # the mailto unsubscribe requests (UNSUBSCRIBE_MAILBOX) come through the same command
                    with svc.db.begin() as s:
                        request = unsubscribe_mail.process_request(s, svc.signer, raw)
                    if request is None or not request.token_valid:
                        what = "an unsubscribe request with an invalid token" if request else (
                            "not a bounce, complaint or unsubscribe request")
                        click.echo(f"{name}: {what}, left alone", err=True)
                        continue
                    click.echo(f"{name}: unsubscribe contact {request.contact_id}"
                               + ("" if request.changed else " (already unsubscribed)"))
                    if delete and Path(name).is_file():
                        Path(name).unlink()
                    continue
                with svc.db.begin() as s:
                    found = bounces.process_reports(s, reports, svc.settings)
                results.extend(found)
                click.echo(f"{name}: " + ", ".join(
                    f"{r.kind} {r.recipient or '?'}" + ("" if res.matched else " (no match)")
                    for r, res in zip(reports, found, strict=True)))
                if delete and Path(name).is_file():
                    Path(name).unlink()
        summary = bounces.summarize(results)
        click.echo(" ".join(f"{k}: {v}" for k, v in summary.items()))


@main.command("resume-broadcast")
@click.argument("broadcast_id", type=int)
def resume_broadcast_cmd(broadcast_id: int) -> None:
    """Resume a broadcast that paused itself (complaint rate); the scheduler sends the rest."""

    with _app().app_context():
        with services().db.begin() as s:
            broadcast = s.get(Broadcast, broadcast_id)
            if broadcast is None:
                raise click.ClickException(f"no broadcast {broadcast_id}")
            try:
                released = bounces.resume_broadcast(s, broadcast)
            except ValueError as exc:
                raise click.ClickException(str(exc)) from None
    click.echo(f"broadcast {broadcast_id} resumed: {released} sends queued again")


if __name__ == "__main__":
    main()
