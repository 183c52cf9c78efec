"""`flask seed-demo` and `flask create-account`: setting a mall up."""
import click

from app.seeds import seed_demo
from app.services import accounts
from app.services.errors import DomainError


@click.command("seed-demo")
def seed_demo_command():
    """Load demo data (idempotent): accounts, merchants, and each area's demo content."""
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
