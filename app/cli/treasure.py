"""`flask treasure ...`: points-treasure jobs (cron-safe)."""
import click
from flask.cli import AppGroup

from app.services import treasure

treasure_cli = AppGroup("treasure", help="Points treasure jobs (cron-safe).")


@treasure_cli.command("settle")
def treasure_settle():
    """Refund every share of rounds past their deadline and open their next period (idempotent)."""
    rounds, refunded = treasure.settle_expired_rounds()
    click.echo(f"settled {rounds} expired rounds, refunded {refunded} purchases")
