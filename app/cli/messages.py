"""`flask messages ...`: member notices (cron-safe)."""
import click
from flask.cli import AppGroup

from app.services.messages import send_expiry_reminders

messages_cli = AppGroup("messages", help="Member notices (cron-safe).")


@messages_cli.command("expiry-reminders")
def messages_expiry_reminders():
    """Tell members whose points expire within 30 days (once per month each)."""
    click.echo(f"sent {send_expiry_reminders()} reminders")
