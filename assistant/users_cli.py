"""`medassist users`: the accounts of the web UI (add, list, remove) and the audit log.

The accounts file is `auth.accounts_file` (or `--accounts`); the password is read from the
terminal without echo, or from standard input with `--password-stdin` for scripts.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from assistant.accounts import Accounts
from assistant.audit import open_audit
from assistant.config import load_config
from assistant.database import Database
from tools.errors import ConfigError, InputError

__all__ = ["add_users_commands"]


def _accounts(args: argparse.Namespace) -> Accounts:
    if args.accounts:
        return Accounts(args.accounts)
    config = load_config({})
    if config.auth.accounts_file is None:
        raise ConfigError(
            "no accounts file: pass --accounts PATH, or set auth.accounts_file in "
            "configs/app.yaml (or MEDASSIST_AUTH__ACCOUNTS_FILE)"
        )
    return Accounts(config.auth.accounts_file)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(f"Password for {args.name}: ")
    if getpass.getpass("Again: ") != first:
        raise InputError("the two passwords differ; nothing was changed")
    return first


def cmd_users(args: argparse.Namespace) -> int:
    """Add, list or remove users; print the audit log."""
    if args.action == "audit":
        config = load_config({"data_dir": str(args.data_dir)} if args.data_dir else {})
        database = Database(config.storage.url, config.data_dir / "sessions.sqlite")
        try:
            if database.dialect == "postgres":
                database.migrate()  # the audit table exists even before the first start
            events = open_audit(config, database).read()
        finally:
            database.close()
        for event in events:
            print(json.dumps(event, ensure_ascii=False))
        return 0
    accounts = _accounts(args)
    if args.action == "list":
        for name in accounts.names():
            print(name)
        return 0
    if not args.name:
        raise InputError(f"`medassist users {args.action}` needs a user name")
    if args.action == "add":
        accounts.add(args.name, _password(args))
        print(f"{args.name}: saved in {accounts.path} (hashed; mode 0600)")
    else:
        accounts.remove(args.name)
        print(f"{args.name}: removed from {accounts.path}")
    return 0


def add_users_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `medassist users`."""
    p = sub.add_parser(
        "users",
        help="accounts of the web UI (needed to serve beyond loopback) and the audit log",
        description="Manage who may sign in to the UI, and read who did what (audit log).",
    )
    p.add_argument("action", choices=["add", "list", "remove", "audit"])
    p.add_argument("name", nargs="?", help="user name (add, remove)")
    p.add_argument("--accounts", type=Path, help="accounts file (default: auth.accounts_file)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--data-dir", type=Path, help="data directory, for `audit` (default .data)")
    p.set_defaults(func=cmd_users)
