"""The `nurture` command: database, users, API keys, CSV import, worker, scheduler, run everything."""

from __future__ import annotations

import sys
from typing import Any

import click


def _app() -> Any:
    from wsgi import create_app

    return create_app()


@click.group()
def main() -> None:
    """Nurture: self-hosted email nurturing."""


@main.command("init-db")
def init_db() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    from campaigns.migrate import upgrade

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
    from campaigns.runtime import services
    from campaigns.users import create_user

    with _app().app_context():
        with services().db.begin() as s:
            create_user(s, email, password, name)
    click.echo(f"created user {email}")


@main.command("create-api-key")
@click.option("--name", default="default")
def create_api_key_cmd(name: str) -> None:
    """Create an API key; the key is printed alone on the last line."""
    from campaigns.runtime import services
    from campaigns.users import create_api_key

    with _app().app_context():
        with services().db.begin() as s:
            key = create_api_key(s, name)
    click.echo(f"API key {name!r} created; it is shown only once:")
    click.echo(key)


@main.command("worker")
@click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
def worker_cmd(burst: bool) -> None:
    """Run an RQ worker that delivers mail."""
    import worker

    worker.run_worker(burst=burst)


@main.command("scheduler")
@click.option("--interval", default=2.0, show_default=True)
def scheduler_cmd(interval: float) -> None:
    """Run the scheduler loop (due steps, broadcasts, reconciliation)."""
    import worker

    worker.run_scheduler(interval=interval)


@main.command("seed-demo")
def seed_demo_cmd() -> None:
    """Load demo data: contacts, two templates, one active sequence, a demo user."""
    from campaigns.demo import seed_demo
    from campaigns.runtime import services

    with _app().app_context():
        summary = seed_demo(services())
    click.echo(summary)


@main.command("run")
@click.option("--port", default=8000, show_default=True)
@click.option("--demo/--no-demo", default=True, show_default=True, help="Seed demo data on first start.")
def run_cmd(port: int, demo: bool) -> None:
    """Start everything: web UI, worker, scheduler, dev outbox SMTP and a local Redis if needed."""
    from campaigns.supervisor import run_all

    sys.exit(run_all(port=port, demo=demo))


if __name__ == "__main__":
    main()
