"""``medassist pacs …``: search a PACS, attach a series to a session, export and send results.

Search results identify patients; they are printed to this terminal only (the person
who searched), never stored in a session or logged.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from tqdm import tqdm

from assistant.config import AppConfig, load_config
from assistant.pacs import PacsService
from assistant.service import Assistant
from tools.errors import InputError
from tools.pacs import SeriesHit, StudyQuery

__all__ = ["add_pacs_commands"]


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _config(args: argparse.Namespace) -> AppConfig:
    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = str(Path(args.data_dir).resolve())
    return load_config(overrides)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def cmd_endpoints(args: argparse.Namespace) -> int:
    """List the configured PACS endpoints (never their secrets)."""
    settings = _config(args).pacs
    if not settings.endpoints:
        _out("No PACS configured (configs/pacs.yaml).")
    for name, ep in settings.endpoints.items():
        mark = " (default)" if name == settings.default else ""
        stow = "STOW on" if ep.stow_enabled else "STOW off"
        _out(f"{name}{mark}  {ep.base_url}  auth {ep.auth.kind}  {stow}  {ep.description}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """Search studies (QIDO-RS) and print them here, for the person who searched."""
    try:
        query = StudyQuery(
            patient_id=args.patient_id, accession_number=args.accession,
            date_from=args.date_from, date_to=args.date_to, modality=args.modality,
            description=args.description, limit=args.limit,
        )  # fmt: skip
    except ValidationError as exc:
        raise InputError("; ".join(e["msg"].removeprefix("Value error, ")
                                   for e in exc.errors())) from None  # fmt: skip
    hits = PacsService(Assistant(_config(args))).search(query, args.pacs)
    _out(f"{len(hits)} stud{'y' if len(hits) == 1 else 'ies'} found")
    for i, h in enumerate(hits, start=1):
        _out(f"{i:>3}. {h.study_date or '-':8}  {h.patient_name or '-'}  [{h.patient_id or '-'}]  "
             f"acc {h.accession_number or '-'}  {h.modalities or '-'}  "
             f"{h.series_count if h.series_count is not None else '?'} series  "
             f"{h.description or ''}\n     study {h.study_uid}")  # fmt: skip
    return 0


def cmd_series(args: argparse.Namespace) -> int:
    """List the series of a study."""
    hits = PacsService(Assistant(_config(args))).series(args.study, args.pacs)
    for h in hits:
        kind = "" if h.is_image else "  (not images: cannot be attached)"
        _out(f"series {h.series_number if h.series_number is not None else '?':>3}  "
             f"{h.modality or '-':4} {h.instance_count or '?':>5} instance(s)  "
             f"{h.description}{kind}\n     series {h.series_uid}")  # fmt: skip
    return 0


def _bars() -> tuple[Callable[[SeriesHit], Callable[[int], None]], list[tqdm[Any]]]:
    bars: list[tqdm[Any]] = []

    def factory(hit: SeriesHit) -> Callable[[int], None]:
        bar: tqdm[Any] = tqdm(total=hit.instance_count, unit="instance", leave=True,
                              desc=f"series {hit.series_number or '?'} {hit.modality}")  # fmt: skip
        bars.append(bar)

        def step(_bytes: int) -> None:
            bar.update(1)

        return step

    return factory, bars


def cmd_attach(args: argparse.Namespace) -> int:
    """Retrieve a series (or every image series of a study) into a session (WADO-RS)."""
    assistant = Assistant(_config(args))
    service = PacsService(assistant)
    factory, bars = _bars()
    try:
        if args.series:
            one = service.attach_series(args.session, args.study, args.series, args.pacs, factory)
            atts = [one]
        else:
            atts = service.attach_study(args.session, args.study, args.pacs, factory)
    finally:
        for bar in bars:
            bar.close()
    for att in atts:
        _out(f"attached {att.id}: {att.name}")
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    """List the session's segmentation results that can be exported."""

    async def run() -> int:
        async with Assistant(_config(args)) as assistant:
            runs = await PacsService(assistant).segment_runs(args.session)
        if not runs:
            _out("No segmentation result in this session yet.")
        for r in runs:
            _out(f"{r.number:>3}. segment {r.target} on {r.image_id}")
        return 0

    return asyncio.run(run())


def cmd_export(args: argparse.Namespace) -> int:
    """Write DICOM SEG + SR for a segmentation result (and the report), optionally send."""

    async def run() -> int:
        async with Assistant(_config(args)) as assistant:
            service = PacsService(assistant)
            result = await service.export(args.session, args.result, args.report)
            for path in result.files:
                target = path
                if args.out:
                    args.out.mkdir(parents=True, exist_ok=True)
                    target = Path(shutil.copy2(path, args.out / path.name))
                _out(f"wrote {target}")
            for note in result.notes:
                _out(f"note: {note}")
            if args.send:
                _report_stow(service.send(result.files, args.pacs, args.session))
        return 0

    return asyncio.run(run())


def cmd_send(args: argparse.Namespace) -> int:
    """Send exported DICOM files to the PACS (STOW-RS, only to an endpoint that opted in)."""
    _report_stow(PacsService(Assistant(_config(args))).send(args.files, args.pacs))
    return 0


def _report_stow(result: Any) -> None:
    _out(f"PACS {result.endpoint!r} stored {len(result.stored)} object(s)")
    for uid, reason in result.failed:
        _out(f"refused {uid}: {reason}")
    if result.failed:
        raise InputError(f"{len(result.failed)} object(s) were refused; the files are kept")


def add_pacs_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``medassist pacs`` and its subcommands to the CLI."""
    pacs = sub.add_parser("pacs", help="search a PACS (DICOMweb), attach series, send results")
    commands = pacs.add_subparsers(dest="pacs_command", required=True, metavar="ACTION")

    def command(name: str, help: str, func: Callable[[argparse.Namespace], int]) -> Any:
        p = commands.add_parser(name, help=help)
        p.add_argument("--data-dir", type=Path, help="sessions and uploads (default .data)")
        p.add_argument("--pacs", help="endpoint name in configs/pacs.yaml (default: the default)")
        p.set_defaults(func=func)
        return p

    command("endpoints", "list the configured PACS", cmd_endpoints)
    p = command("search", "find studies (shown here only; never stored)", cmd_search)
    p.add_argument("--patient-id")
    p.add_argument("--accession", help="accession number")
    p.add_argument("--from", dest="date_from", type=_date, help="study date from (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", type=_date, help="study date to (YYYY-MM-DD)")
    p.add_argument("--modality", help="e.g. CT, MR, CR")
    p.add_argument("--description", help="words of the study description")
    p.add_argument("--limit", type=int, default=50)
    p = command("series", "list the series of a study", cmd_series)
    p.add_argument("study", help="Study Instance UID (from `pacs search`)")
    p = command("attach", "retrieve a series (or a study's series) into a session", cmd_attach)
    p.add_argument("session", help="session id (see `medassist sessions`)")
    p.add_argument("--study", required=True, help="Study Instance UID")
    p.add_argument("--series", help="Series Instance UID (default: every image series)")
    p = command("results", "list a session's segmentation results", cmd_results)
    p.add_argument("session")
    p = command("export", "write DICOM SEG + SR of a segmentation result", cmd_export)
    p.add_argument("session")
    p.add_argument("--result", type=int, help="result number (`pacs results`; default latest)")
    p.add_argument("--report", help="also the text of this stored report as an SR")
    p.add_argument("--out", type=Path, help="copy the files into this folder too")
    p.add_argument("--send", action="store_true", help="then send them (STOW-RS)")
    p = command("send", "send exported DICOM files (STOW-RS)", cmd_send)
    p.add_argument("files", type=Path, nargs="+")
