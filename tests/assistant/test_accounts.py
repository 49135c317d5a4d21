"""Accounts (hashed passwords, mode 0600), the loopback rule, per-user sessions, the audit log."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.accounts import Accounts, check_exposure, hash_password, verify_password
from assistant.audit import AuditLog
from assistant.config import AuthSettings, load_config
from assistant.service import Assistant
from assistant.sessions import SessionStore
from assistant.testing import ScriptedChatModel
from tools.errors import ConfigError, InputError, SessionNotFoundError


def test_passwords_are_salted_hashes_checked_in_constant_time(tmp_path: Path) -> None:
    one, two = hash_password("correct horse"), hash_password("correct horse")
    assert one != two and "correct horse" not in one  # salted, never the password itself
    assert verify_password(one, "correct horse") and not verify_password(one, "correct horsE")
    assert not verify_password("md5$abc", "x") and not verify_password("garbage", "x")
    accounts = Accounts(tmp_path / "auth" / "accounts.json")
    accounts.add("dr.lee", "a long secret")
    accounts.add("ana@ward-3", "another secret")
    assert stat.S_IMODE(accounts.path.stat().st_mode) == 0o600
    assert "a long secret" not in accounts.path.read_text()
    assert accounts.names() == ["ana@ward-3", "dr.lee"]
    assert accounts.check("dr.lee", "a long secret") and not accounts.check("dr.lee", "nope")
    assert not accounts.check("nobody", "a long secret")
    with pytest.raises(InputError, match="at least 10 characters"):
        accounts.add("x", "short")
    with pytest.raises(InputError, match="user name"):
        accounts.add("two words", "long enough secret")
    accounts.remove("dr.lee")
    assert not accounts.check("dr.lee", "a long secret")
    with pytest.raises(InputError, match=r"no user 'dr\.lee'; users: ana@ward-3"):
        accounts.remove("dr.lee")
    accounts.path.write_text("[]")
    with pytest.raises(ConfigError, match="has no 'users' object"):
        accounts.names()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_no_accounts(host: str) -> None:
    check_exposure(AuthSettings(), host)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "medassist.example.org"])
def test_beyond_loopback_needs_a_way_to_tell_users_apart(host: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"refusing to serve the UI on {host}"):
        check_exposure(AuthSettings(), host)
    check_exposure(AuthSettings(accounts_file=tmp_path / "a.json"), host)
    check_exposure(AuthSettings(proxy_header="X-Forwarded-User"), host)


def test_up_refuses_an_open_address_before_starting_anything(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "up", "--host", "0.0.0.0",
         "--data-dir", str(tmp_path / "d")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "refusing to serve the UI on 0.0.0.0" in done.stderr
    assert "medassist users add NAME" in done.stderr
    assert "Model server" not in done.stdout + done.stderr  # vLLM was never started


def test_users_command_adds_lists_and_removes(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"

    def users(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "assistant.cli", "users", *args, "--accounts", str(path)]
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=120,
                              check=False)  # fmt: skip

    added = users("add", "dr.lee", "--password-stdin", stdin="a long secret\n")
    assert added.returncode == 0 and "hashed; mode 0600" in added.stdout, added.stderr
    assert Accounts(path).check("dr.lee", "a long secret")
    assert users("list").stdout.split() == ["dr.lee"]
    assert users("remove", "dr.lee").returncode == 0 and Accounts(path).names() == []


def test_sessions_belong_to_their_owner_and_old_databases_migrate(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with sqlite3.connect(data / "sessions.sqlite") as db:  # the schema before owners
        db.execute(
            "CREATE TABLE sessions (id TEXT PRIMARY KEY, title TEXT NOT NULL, "
            "created REAL NOT NULL, updated REAL NOT NULL)"
        )
        db.execute("INSERT INTO sessions VALUES ('old', 'Before accounts', 1.0, 1.0)")
    store = SessionStore(data)
    alice = store.create("Alice's", owner="alice")
    store.create("Bob's", owner="bob")
    assert [s.title for s in store.list(owner="alice")] == ["Alice's"]
    assert [s.id for s in store.list(owner="")] == ["old"]
    assert len(store.list()) == 3
    assert store.get(alice.id, "alice").owner == "alice"
    with pytest.raises(SessionNotFoundError, match=f"no session '{alice.id}'"):
        store.get(alice.id, "bob")  # the same answer as for a session that does not exist


async def test_the_audit_log_says_who_did_what_without_contents(
    tmp_path: Path, gradient_png: Path
) -> None:
    config = load_config({"data_dir": str(tmp_path / "d")})
    model = ScriptedChatModel(['{"tool": "answer"}', "A gradient."])
    async with Assistant(config, model=model) as assistant:
        session = assistant.new_session(owner="alice").id
        att = await assistant.aadd_upload(session, gradient_png, "Quixote_Dulcinea.png")
        [e async for e in assistant.run_turn(session, "Secret question about Quixote?", [att.id])]
        [e async for e in assistant.run_tool(session, "describe_image", {"image_id": att.id})]
        assistant.rename_session(session, "Renamed")
        with pytest.raises(SessionNotFoundError):
            assistant.open_session(session, "bob")
        assistant.open_session(session, "alice")
        await assistant.delete_session(session)
    log = AuditLog(tmp_path / "d" / "audit.log")
    events = [(e["user"], e["action"], e["detail"]) for e in log.read()]
    assert events == [
        ("alice", "new", ""),
        ("alice", "upload", f"{att.id} image"),
        ("alice", "message", att.id),
        ("alice", "run_tool", "describe_image"),
        ("alice", "rename", ""),
        ("bob", "refused", "open: not this user's session"),
        ("alice", "open", ""),
        ("alice", "delete", ""),
    ]
    assert {e["session"] for e in log.read()} == {session}
    text = log.path.read_text()
    assert "Quixote" not in text and "Secret question" not in text
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert all(json.loads(line)["time"].endswith("+00:00") for line in text.splitlines())
