"""`flask stats ...`: the dashboard's daily rollups (cron-safe)."""
import click
from flask.cli import AppGroup

from app.services import stats

stats_cli = AppGroup("stats", help="Dashboard rollups (cron-safe).")


@stats_cli.command("rollup")
@click.option("--days", default=8, show_default=True, type=click.IntRange(1, 3660),
              help="Recompute this many complete Shanghai days before today.")
def stats_rollup(days):
    """Recompute the daily figures of the last DAYS days from the raw rows (idempotent)."""
    written = stats.rollup(days)
    click.echo(f"rolled up {len(written)} days: {written[0]} .. {written[-1]}")
