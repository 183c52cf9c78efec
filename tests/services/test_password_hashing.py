"""Password hashing: argon2id at the cost the app's config names (cheap in tests only)."""
import argon2
import pytest
from argon2 import PasswordHasher

from app import create_app
from app.config import Config, DevelopmentConfig, ProductionConfig, TestConfig
from app.extensions import db
from app.models import User
from app.services import accounts


def _parameters(password_hash):
    return argon2.extract_parameters(password_hash)


def test_deployed_configs_keep_the_libraries_default_cost():
    for config in (Config, DevelopmentConfig, ProductionConfig):
        assert (config.ARGON2_TIME_COST, config.ARGON2_MEMORY_COST, config.ARGON2_PARALLELISM) == (
            argon2.DEFAULT_TIME_COST, argon2.DEFAULT_MEMORY_COST, argon2.DEFAULT_PARALLELISM)
    assert argon2.DEFAULT_MEMORY_COST >= 65536  # RFC 9106's low-memory profile, not a test setting
    assert TestConfig.ARGON2_TIME_COST == 1 and TestConfig.ARGON2_MEMORY_COST == 8


def test_the_app_hashes_at_its_configured_cost(app, app_ctx):
    params = _parameters(accounts.hash_password("secret123"))
    assert (params.type, params.time_cost, params.memory_cost, params.parallelism) == (
        argon2.Type.ID, 1, 8, 1)


def test_another_app_built_with_another_cost_uses_it(tmp_path):
    class Costlier(TestConfig):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path}/costlier.db"
        ARGON2_TIME_COST = 2
        ARGON2_MEMORY_COST = 64
        ARGON2_PARALLELISM = 2

    other = create_app(Costlier)
    with other.app_context():
        params = _parameters(accounts.hash_password("secret123"))
        db.engine.dispose()
    assert (params.time_cost, params.memory_cost, params.parallelism) == (2, 64, 2)


@pytest.mark.parametrize("password, expected", [("secret123", True), ("secret124", False), ("", False)])
def test_a_hash_made_at_another_cost_still_verifies(app, app_ctx, password, expected):
    """Accounts hashed at the production cost keep logging in whatever the app's cost is now."""
    stored = PasswordHasher(time_cost=3, memory_cost=1024, parallelism=2).hash("secret123")
    assert accounts.check_password(User(password_hash=stored), password) is expected


def test_an_unknown_account_is_checked_against_a_dummy_hash_of_the_same_cost(app, app_ctx):
    _hasher, dummy = accounts._password_hasher()
    params = _parameters(dummy)
    assert (params.time_cost, params.memory_cost) == (1, 8)
    assert accounts.check_password(User(), "secret123") is False
