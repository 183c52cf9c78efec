"""`flask` commands: demo data, points jobs, accounts."""
import sys

import click
from flask.cli import AppGroup

from app.services import accounts, ledger
from app.services.errors import DomainError

points_cli = AppGroup("points", help="Points ledger jobs (cron-safe).")


@points_cli.command("expire")
def points_expire():
    """Expire what is left in lots past their expiry date (idempotent)."""
    members, points = ledger.run_expiry()
    click.echo(f"expired {points} points for {members} members")


@points_cli.command("reconcile")
def points_reconcile():
    """Check balance = sum of entries = sum of lot remainders for every member."""
    mismatches = ledger.reconcile()
    for m in mismatches:
        click.echo(f"member {m.user_id}: balance {m.balance}, entries {m.entries_sum}, lots {m.lots_sum}")
    if mismatches:
        click.echo(f"{len(mismatches)} members differ", err=True)
        sys.exit(1)
    click.echo("all balances reconcile")


messages_cli = AppGroup("messages", help="Member notices (cron-safe).")


@messages_cli.command("expiry-reminders")
def messages_expiry_reminders():
    """Tell members whose points expire within 30 days (once per month each)."""
    from app.services.messages import send_expiry_reminders

    click.echo(f"sent {send_expiry_reminders()} reminders")


@click.command("seed-demo")
def seed_demo_command():
    """Load demo data (idempotent): accounts, merchants, and each area's demo content."""
    from app.seed import seed_demo

    seed_demo()
    click.echo("demo data loaded")


@click.command("create-account")
@click.option("--phone", required=True)
@click.option("--password", required=True)
@click.option("--role", type=click.Choice(["member", "staff", "operator"]), default="operator")
@click.option("--merchant-id", type=int)
def create_account_command(phone, password, role, merchant_id):
    """Create an operator, staff or member account."""
    try:
        user = accounts.create_account(phone, password, role, merchant_id=merchant_id)
    except DomainError as error:
        raise click.ClickException(str(error.message)) from error
    click.echo(f"created {role} #{user.id}")


def register_cli(app):
    from app.games_cli import treasure_cli  # the games area's jobs
    app.cli.add_command(treasure_cli)
    from app.shop_cli import orders_cli  # the shop's jobs
    app.cli.add_command(orders_cli)
    app.cli.add_command(points_cli)
    app.cli.add_command(messages_cli)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(create_account_command)
