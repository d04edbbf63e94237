"""Accounts use case: argon2id passwords, users, API tokens."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from tests.webapp.fakes import FakeCrmStore

from callcenter.domain.errors import AuthError, NotFound
from callcenter.domain.users import Role
from callcenter.services.accounts import Accounts

FAST = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
PASSWORD = "correct-horse-battery"


@pytest.fixture
def store() -> FakeCrmStore:
    return FakeCrmStore()


@pytest.fixture
def accounts(store: FakeCrmStore) -> Accounts:
    return Accounts(store, **FAST)


async def test_hash_is_argon2id_and_verifies(accounts: Accounts) -> None:
    hashed = await accounts.hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$")
    assert PASSWORD not in hashed
    assert await accounts.verify_password(hashed, PASSWORD)
    assert not await accounts.verify_password(hashed, PASSWORD + "x")
    assert not await accounts.verify_password("not-a-hash", PASSWORD)
    assert await accounts.hash_password(PASSWORD) != hashed  # salted


async def test_hashing_does_not_block_the_loop(store: FakeCrmStore) -> None:
    accounts = Accounts(store, time_cost=2, memory_cost=32768, parallelism=1)  # tens of ms of CPU
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        await accounts.hash_password(PASSWORD)
    finally:
        task.cancel()
    assert ticks >= 2


async def test_create_user_stores_a_hash(accounts: Accounts, store: FakeCrmStore) -> None:
    user = await accounts.create_user("alice.b-1_x", PASSWORD, "agent", "Alice", agent="1001")
    assert user.role is Role.AGENT and user.agent == "1001" and user.display_name == "Alice"
    creds = await store.get_credentials("alice.b-1_x")
    assert creds is not None and creds.password_hash.startswith("$argon2id$")


@pytest.mark.parametrize(
    ("username", "password", "role", "agent", "message"),
    [
        ("a", PASSWORD, Role.QA, None, "username must be 2-64"),
        ("Alice", PASSWORD, Role.QA, None, "username must be 2-64"),
        ("al ice", PASSWORD, Role.QA, None, "username must be 2-64"),
        ("x" * 65, PASSWORD, Role.QA, None, "username must be 2-64"),
        ("alice\n", PASSWORD, Role.QA, None, "username must be 2-64"),
        ("alice", "short", Role.QA, None, "at least 8 characters"),
        ("alice", "x" * 2000, Role.QA, None, "at most 1024 characters"),
        ("alice", PASSWORD, "root", None, "role must be one of agent, supervisor, qa, admin"),
        ("alice", PASSWORD, Role.AGENT, None, "needs its agent id"),
    ],
)
async def test_create_user_validates(
    accounts: Accounts, username: str, password: str, role: str, agent: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await accounts.create_user(username, password, role, agent=agent)


async def test_create_user_refuses_a_taken_username(accounts: Accounts) -> None:
    await accounts.create_user("sam", PASSWORD, Role.SUPERVISOR)
    with pytest.raises(ValueError, match="already taken"):
        await accounts.create_user("sam", PASSWORD, Role.QA)


async def test_authenticate(accounts: Accounts, store: FakeCrmStore) -> None:
    user = await accounts.create_user("sam", PASSWORD, Role.SUPERVISOR)
    assert await accounts.authenticate("sam", PASSWORD) == user
    errors = []
    for username, password in [("sam", "wrong-password"), ("nobody", PASSWORD), ("", ""), ("SAM!", PASSWORD)]:
        with pytest.raises(AuthError) as info:
            await accounts.authenticate(username, password)
        errors.append(str(info.value))
    store.deactivate(user.id)
    with pytest.raises(AuthError) as info:
        await accounts.authenticate("sam", PASSWORD)
    errors.append(str(info.value))
    assert set(errors) == {"invalid username or password"}  # nothing tells the cases apart


async def test_unknown_user_costs_a_hash_verification(
    accounts: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    await accounts.create_user("sam", PASSWORD, Role.SUPERVISOR)
    verified: list[str] = []
    real = accounts.verify_password

    async def counting(password_hash: str, password: str) -> bool:
        verified.append(password_hash[:9])
        return await real(password_hash, password)

    monkeypatch.setattr(accounts, "verify_password", counting)
    for username in ("nobody", "sam"):
        with pytest.raises(AuthError):
            await accounts.authenticate(username, "wrong-password")
    assert verified == ["$argon2id", "$argon2id"]


async def test_api_tokens(accounts: Accounts, store: FakeCrmStore) -> None:
    user = await accounts.create_user("prom", PASSWORD, Role.ADMIN)
    token = await accounts.issue_api_token(user.id, "prometheus")
    assert token.startswith("cc_") and len(token) > 40
    assert token not in store.tokens  # only the digest is stored
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert store.tokens == {digest: user.id}
    assert store.token_labels[digest] == "prometheus"
    assert await accounts.user_for_token(token) == user
    assert await accounts.user_for_token(token + "x") is None
    assert await accounts.user_for_token("") is None
    assert await accounts.issue_api_token(user.id, "other") != token
    store.deactivate(user.id)
    assert await accounts.user_for_token(token) is None


async def test_token_for_missing_user(accounts: Accounts) -> None:
    with pytest.raises(NotFound):
        await accounts.issue_api_token(99, "x")
