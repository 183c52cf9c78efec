"""`flask points ...`: ledger jobs (cron-safe)."""
import sys

import click
from flask.cli import AppGroup

from app.services import ledger

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
