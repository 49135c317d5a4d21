"""Sessions, uploads, reports, audit and checkpoints on a real PostgreSQL server.

Two `Assistant`s on one database and one data folder stand for two app instances: what
one writes the other reads, and the schema is migrated once however many start together.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from langchain_core.messages import AIMessage, HumanMessage

from assistant.config import AppConfig, load_config
from assistant.database import MIGRATIONS, Database
from assistant.events import TurnDone
from assistant.report import draft_report
from assistant.service import Assistant
from assistant.sessions import SessionStore
from assistant.testing import DeadChatModel, ScriptedChatModel
from tests.assistant.report.conftest import lung_result, tool_message
from tools.errors import ConfigError, SessionNotFoundError


def _config(data: Path, url: str) -> AppConfig:
    return load_config({"data_dir": str(data), "storage": {"url": url}}, environ={})


def _count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_migrations_run_once_when_instances_start_together(pg_url: str, tmp_path: Path) -> None:
    def start(_: int) -> tuple[int, int]:
        db = Database(pg_url, tmp_path / "unused.sqlite")
        try:
            return db.migrate()
        finally:
            db.close()

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(start, range(4)))
    newest = MIGRATIONS[-1].version
    assert all(after == newest for _, after in results)
    assert sorted(before for before, _ in results) == [0, newest, newest, newest]
    assert _count(pg_url, "SELECT COUNT(*) FROM schema_version") == len(MIGRATIONS)
    assert not (tmp_path / "unused.sqlite").exists()  # nothing went to SQLite


def test_a_wrong_url_is_refused_at_start_without_its_password(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        Database("postgresql://someone:s3cret-pw@127.0.0.1:1/nowhere", tmp_path / "x.sqlite")
    assert "postgresql://someone:***@127.0.0.1:1/nowhere" in str(caught.value)
    assert "s3cret-pw" not in str(caught.value)


def test_sessions_and_uploads_are_shared_by_two_stores(
    pg_url: str, tmp_path: Path, gradient_png: Path
) -> None:
    data = tmp_path / "shared"
    one = SessionStore(data, database=Database(pg_url, data / "sessions.sqlite"))
    two = SessionStore(data, database=Database(pg_url, data / "sessions.sqlite"))
    try:
        mine = one.create("Chest film", owner="ana")
        one.create("Someone else's", owner="ben")
        assert [s.id for s in two.list(owner="ana")] == [mine.id]
        att = two.add_upload(mine.id, gradient_png, "gradient.png")
        again = one.add_upload(mine.id, gradient_png, "copy.png")  # same content, same id
        assert att.id == again.id == "img1" and att.path.is_file()
        assert one.attachments(mine.id)["img1"].sha256 == att.sha256
        assert two.rename(mine.id, "  Renamed   film ").title == "Renamed film"
        assert one.get(mine.id, owner="ana").title == "Renamed film"
        with pytest.raises(SessionNotFoundError):
            one.get(mine.id, owner="ben")
        one.delete(mine.id)
        with pytest.raises(SessionNotFoundError):
            two.get(mine.id)
        assert not one.session_dir(mine.id).exists()
        assert _count(pg_url, "SELECT COUNT(*) FROM uploads") == 0
        assert not (data / "sessions.sqlite").exists()
    finally:
        one.db.close()
        two.db.close()


async def test_a_session_started_on_one_instance_continues_on_the_other(
    pg_url: str, tmp_path: Path
) -> None:
    config = _config(tmp_path / "shared", pg_url)
    first = ScriptedChatModel(['{"tool": "answer"}', "A first answer."])
    second = ScriptedChatModel(['{"tool": "answer"}', "A second answer."])
    async with Assistant(config, model=first) as a, Assistant(config, model=second) as b:
        session = a.new_session(owner="ana").id
        events = [e async for e in a.run_turn(session, "First question")]
        assert isinstance(events[-1], TurnDone) and events[-1].answer == "A first answer."
        events = [e async for e in b.run_turn(session, "Second question")]
        assert isinstance(events[-1], TurnDone) and events[-1].answer == "A second answer."
        # b's model saw a's turn: the conversation came from the shared checkpoints
        sent = str(second.requests[0].messages)
        assert "First question" in sent and "A first answer." in sent
        history = await a.history(session)
        texts = [str(m.content) for m in history if isinstance(m, HumanMessage | AIMessage)]
        assert texts == ["First question", "A first answer.", "Second question", "A second answer."]
        actions = [e["action"] for e in b.audit.read() if e["session"] == session]
        assert actions[:1] == ["new"] and actions.count("message") == 2
        await b.delete_session(session)
        assert await a.history(session) == []
    assert _count(pg_url, "SELECT COUNT(*) FROM checkpoints") == 0
    assert _count(pg_url, "SELECT COUNT(*) FROM audit WHERE action = 'delete'") == 1
    assert not (tmp_path / "shared" / "checkpoints.sqlite").exists()
    assert not (tmp_path / "shared" / "audit.log").exists()


async def test_reports_are_indexed_in_the_database(pg_url: str, tmp_path: Path) -> None:
    config = _config(tmp_path / "shared", pg_url)
    async with Assistant(config, model=DeadChatModel()) as a:
        session = a.new_session().id
        report = await draft_report(
            DeadChatModel(), "chest-radiograph", [tool_message("segment", lung_result(), "c1")]
        )
        a.reports(session).save(report)
        a.save_report(session, report.id, "# Edited\n\n## Impression\n\n- Fine.\n")
    row = "SELECT version FROM reports WHERE id = '" + report.id + "'"
    assert _count(pg_url, row) == 2
    async with Assistant(config, model=DeadChatModel()) as b:
        listed = b.list_reports(session)
        assert [r.id for r in listed] == [report.id] and listed[0].version == 2


def test_concurrent_uploads_to_one_session_from_two_instances(
    pg_url: str, tmp_path: Path
) -> None:
    """Upload ids are numbered per session; two instances adding at once get distinct ids."""
    from PIL import Image

    data = tmp_path / "shared"
    stores = [SessionStore(data, database=Database(pg_url, data / "x.sqlite")) for _ in range(2)]
    files = []
    for i in range(8):
        path = tmp_path / f"f{i}.png"
        Image.new("L", (8, 8), i * 20).save(path)
        files.append(path)
    try:
        session = stores[0].create().id
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(lambda i: stores[i % 2].add_upload(session, files[i]).id, range(8)))
        assert sorted(ids) == sorted(f"img{i}" for i in range(1, 9))
    finally:
        for store in stores:
            store.db.close()


def test_storage_url_is_validated() -> None:
    with pytest.raises(ConfigError, match="storage"):
        load_config({"storage": {"url": "mysql://x"}}, environ={})


@pytest.mark.parametrize("url", ["postgresql://u@h/db", "postgres://u@h:5432/db", "sqlite"])
def test_storage_kinds(url: str) -> None:
    config = load_config({"storage": {"url": url}}, environ={})
    assert config.storage.kind == ("sqlite" if url == "sqlite" else "postgres")



async def _sqlite_data(data: Path, image: Path) -> tuple[str, list[str], str]:
    """A SQLite data folder with a conversation, an upload, a report and audit events."""
    config = load_config({"data_dir": str(data)}, environ={})
    model = ScriptedChatModel(['{"tool": "answer"}', "Nothing acute."])
    async with Assistant(config, model=model) as a:
        session = a.new_session(owner="ana").id
        await a.aadd_upload(session, image, "film.png")
        events = [e async for e in a.run_turn(session, "Anything acute?", ["img1"])]
        assert isinstance(events[-1], TurnDone)
        report = await draft_report(
            DeadChatModel(), "chest-radiograph", [tool_message("segment", lung_result(), "c1")]
        )
        a.reports(session).save(report)
        history = await a.history(session)
    return session, [str(m.content) for m in history], report.id


def test_storage_migrate_moves_a_sqlite_folder_to_postgres(
    pg_url: str, tmp_path: Path, gradient_png: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from assistant.cli import main

    data = tmp_path / "data"
    session, before, report_id = asyncio.run(_sqlite_data(data, gradient_png))
    assert main(["storage", "migrate", "--to", pg_url, "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert "sessions: 1 row(s) copied" in out and "uploads: 1 row(s) copied" in out
    assert "reports: 1 row(s) copied" in out and "of 1 conversation(s) copied" in out
    assert main(["storage", "migrate", "--to", pg_url, "--data-dir", str(data)]) == 0
    again = capsys.readouterr().out  # a second run finds everything there
    assert "sessions: 0 row(s)" in again and "0 of 0 conversation(s)" in again
    assert "audit log: 0 event(s)" in again

    async def on_postgres() -> None:
        model = ScriptedChatModel(['{"tool": "answer"}', "Still nothing acute."])
        async with Assistant(_config(data, pg_url), model=model) as b:
            assert [s.id for s in b.list_sessions(owner="ana")] == [session]
            assert [str(m.content) for m in await b.history(session)] == before
            assert b.attachments(session)["img1"].path.is_file()
            assert [r.id for r in b.list_reports(session)] == [report_id]
            assert [e["action"] for e in b.audit.read()][:2] == ["new", "upload"]
            events = [e async for e in b.run_turn(session, "And now?")]
            assert isinstance(events[-1], TurnDone)
            assert "Anything acute?" in str(model.requests[0].messages)

    asyncio.run(on_postgres())
    assert main(["storage", "info", "--data-dir", str(data)]) == 0
    assert "storage: sqlite" in capsys.readouterr().out  # the folder's own config is unchanged
