"""`flask` commands, one module per group; register_cli adds them all (called by create_app)."""
from app.cli.messages import messages_cli
from app.cli.orders import orders_cli
from app.cli.wechat import wechat_cli
from app.cli.points import points_cli
from app.cli.stats import stats_cli
from app.cli.setup import create_account_command, seed_demo_command
from app.cli.treasure import treasure_cli

COMMANDS = [points_cli, orders_cli, treasure_cli, messages_cli, stats_cli, wechat_cli, seed_demo_command,
            create_account_command]


def register_cli(app):
    for command in COMMANDS:
        app.cli.add_command(command)
