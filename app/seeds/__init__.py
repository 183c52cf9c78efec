"""Demo data for `flask seed-demo`: one idempotent seeder per area, run in order."""
from app.seeds.accounts import seed_accounts
from app.seeds.engage import seed_engage
from app.seeds.games import seed_games
from app.seeds.shop import seed_shop

SEEDERS = [seed_accounts, seed_shop, seed_games, seed_engage]


def seed_demo():
    """Run every area's seeder; safe to run again."""
    for seeder in SEEDERS:
        seeder()
