"""`flask points ...`: ledger jobs (cron-safe)."""
import sys

import click
from flask.cli import AppGroup

from app.services import ledger, reconcile

points_cli = AppGroup("points", help="Points ledger jobs (cron-safe).")


@points_cli.command("expire")
def points_expire():
    """Expire what is left in lots past their expiry date (idempotent)."""
    members, points = ledger.run_expiry()
    click.echo(f"expired {points} points for {members} members")


@points_cli.command("reconcile")
def points_reconcile():
    """Check members (balance = entries = lots), product stock and draw prizes; exit 1 on any difference."""
    report = reconcile.run()
    for m in report.members:
        click.echo(f"member {m.user_id}: balance {m.balance}, entries {m.entries_sum}, lots {m.lots_sum}")
    for p in report.products:
        click.echo(f"product {p.product_id}: stock {p.stock} + sold {p.sold} != received {p.received}"
                   f" + adjustments {p.adjusted} (difference {p.difference:+d})")
    for z in report.prizes:
        click.echo(f"draw prize {z.prize_id} (draw {z.draw_id}): awarded {z.awarded}, plays {z.plays}")
    if not report.clean:
        click.echo(f"{len(report.members)} members, {len(report.products)} products and "
                   f"{len(report.prizes)} draw prizes differ", err=True)
        sys.exit(1)
    click.echo("all balances reconcile; all stock reconciles")
