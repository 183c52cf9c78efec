"""`flask messages ...`: member notices (cron-safe)."""
import click
from flask.cli import AppGroup

from app.services.messages import send_expiry_reminders, send_streak_reminders

messages_cli = AppGroup("messages", help="Member notices (cron-safe).")


@messages_cli.command("expiry-reminders")
def messages_expiry_reminders():
    """Tell members whose points expire within 30 days (once per lot)."""
    click.echo(f"sent {send_expiry_reminders()} reminders")


@messages_cli.command("streak-reminders")
def messages_streak_reminders():
    """From 20:00 Beijing time: tell members whose 3+ day check-in streak is at risk (once a day)."""
    click.echo(f"sent {send_streak_reminders()} reminders")
