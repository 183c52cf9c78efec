"""`flask wechat ...`: WeChat jobs (cron-safe)."""
import click
from flask.cli import AppGroup

from app.services.wechat_templates import send_due

wechat_cli = AppGroup("wechat", help="WeChat jobs (cron-safe).")


@wechat_cli.command("send-templates")
def send_templates():
    """Send member messages queued as WeChat template messages; failures are retried with backoff."""
    sent, failed = send_due()
    click.echo(f"sent {sent} template messages, {failed} failed attempts")
