"""`flask orders ...`: the shop's cron jobs."""
import click
from flask.cli import AppGroup

from app.services.order_jobs import cancel_unpaid_orders, complete_shipped_orders

orders_cli = AppGroup("orders", help="Order jobs (cron-safe).")


@orders_cli.command("cancel-unpaid")
def cancel_unpaid():
    """Cancel points + cash orders unpaid past their deadline; points and stock go back."""
    click.echo(f"cancelled {cancel_unpaid_orders()} unpaid orders")


@orders_cli.command("auto-complete")
def auto_complete():
    """Confirm receipt of orders shipped `shop.rules.auto_complete_days` (10) days ago; members are told."""
    click.echo(f"completed {complete_shipped_orders()} shipped orders")
