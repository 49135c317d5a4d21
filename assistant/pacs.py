"""PACS in a session: search, attach a series as an upload, export results, send them back.

`PacsService` is the façade the CLI and the UI use. Search results identify patients:
they are returned to the caller only and never stored, logged or shown to the model.
An attached series goes through `Assistant.add_upload` like any uploaded ZIP (same
limits, same de-identification), and its identifiers are recorded in the session's
local `UidMap` so that exports can reference the original instances. Exports are built
from the session's stored `segment` results and reports; STOW-RS happens only in `send`.
Attaching and sending are audited (`pacs_attach`, `pacs_send`: ids and endpoint only).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.messages import AnyMessage, ToolMessage
from pydicom import dcmread
from pydicom.dataset import Dataset

from assistant.service import Assistant
from tools.attachments import Attachment
from tools.dicom_export import (
    ReportSection,
    UidMap,
    build_text_report,
    export_segmentation,
    find_pseudonyms,
    source_images,
)
from tools.errors import InputError, MedAssistError, suggest
from tools.imaging.deid import pseudonym
from tools.imaging.limits import captured_warnings
from tools.pacs import (
    PacsClient,
    PacsError,
    PacsNotFoundError,
    PacsSettings,
    SeriesHit,
    StowResult,
    StudyHit,
    StudyQuery,
    write_series_zip,
)

__all__ = ["ExportResult", "PacsService", "SegmentRun"]

log = logging.getLogger(__name__)
SEGMENT_TOOL = "segment"
Progress = Callable[[int], None]
ProgressFactory = Callable[[SeriesHit], Progress | None]


@dataclass(frozen=True)
class SegmentRun:
    """A successful `segment` result stored in the conversation (number: 1, 2 … in order)."""

    number: int
    image_id: str
    target: str
    result: dict[str, Any]


@dataclass
class ExportResult:
    """The DICOM files written for a session's result (SEG, measurement SR, report SR)."""

    files: list[Path]
    datasets: list[Dataset]
    notes: list[str] = field(default_factory=list)


def segment_runs(messages: Sequence[AnyMessage]) -> list[SegmentRun]:
    """Every successful segment result of a conversation, in order."""
    runs: list[SegmentRun] = []
    for message in messages:
        if not isinstance(message, ToolMessage) or message.name != SEGMENT_TOOL:
            continue
        if message.status == "error":
            continue
        try:
            data = json.loads(str(message.content))
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and "image_id" in data:
            runs.append(SegmentRun(len(runs) + 1, str(data["image_id"]),
                                   str(data.get("target", "")), data))  # fmt: skip
    return runs


class PacsService:
    """The configured PACS endpoints as one session's assistant uses them."""

    def __init__(self, assistant: Assistant, settings: PacsSettings | None = None) -> None:
        self.assistant = assistant
        self.settings = settings or assistant.config.pacs

    # -- endpoints ---------------------------------------------------------------------
    def endpoint_name(self, name: str | None = None) -> str:
        """`name`, or the default endpoint (the only one when just one is configured)."""
        known = self.settings.endpoints
        if not known:
            raise PacsError(
                "no PACS is configured: add an endpoint to configs/pacs.yaml (or set "
                "MEDASSIST_PACS__ENDPOINTS__<NAME>__BASE_URL)"
            )
        chosen = name or self.settings.default or (next(iter(known)) if len(known) == 1 else None)
        if chosen is None:
            raise PacsError(f"several PACS are configured ({', '.join(known)}): name one")
        if chosen not in known:
            raise PacsError(
                f"unknown PACS {chosen!r}; configured: {', '.join(known)}." + suggest(chosen, known)
            )
        return chosen

    def client(self, name: str | None = None) -> PacsClient:
        """A client for the endpoint `name` (or the default one)."""
        chosen = self.endpoint_name(name)
        return PacsClient(chosen, self.settings.endpoints[chosen])

    # -- search (results for the person only) ------------------------------------------
    def search(self, query: StudyQuery, endpoint: str | None = None) -> list[StudyHit]:
        """Studies matching `query`; identifying, so never stored or logged."""
        with self.client(endpoint) as client:
            return client.search_studies(query, self.settings.max_results)

    def series(self, study_uid: str, endpoint: str | None = None) -> list[SeriesHit]:
        """The series of a study."""
        with self.client(endpoint) as client:
            return client.search_series(study_uid)

    # -- attach ------------------------------------------------------------------------
    def attach_series(
        self,
        session_id: str,
        study_uid: str,
        series_uid: str,
        endpoint: str | None = None,
        progress: ProgressFactory | None = None,
    ) -> Attachment:
        """Retrieve one series (WADO-RS) and add it to the session as an uploaded ZIP."""
        owner = self.assistant.get_session(session_id).owner
        with self.client(endpoint) as client:
            hits = {h.series_uid: h for h in client.search_series(study_uid)}
            hit = hits.get(series_uid.strip())
            if hit is None:
                raise PacsNotFoundError(
                    f"PACS {client.name!r} has no such series in that study "
                    f"({len(hits)} series there; list them with `medassist pacs series`)"
                )
            return self._attach(client, session_id, hit, progress, owner)

    def attach_study(
        self,
        session_id: str,
        study_uid: str,
        endpoint: str | None = None,
        progress: ProgressFactory | None = None,
    ) -> list[Attachment]:
        """Attach every image series of a study (SEG, SR and the like are left out)."""
        owner = self.assistant.get_session(session_id).owner
        with self.client(endpoint) as client:
            hits = [h for h in client.search_series(study_uid) if h.is_image]
            if not hits:
                raise PacsNotFoundError(f"PACS {client.name!r} has no image series in that study")
            return [self._attach(client, session_id, hit, progress, owner) for hit in hits]

    def _attach(
        self,
        client: PacsClient,
        session_id: str,
        hit: SeriesHit,
        progress: ProgressFactory | None,
        owner: str,
    ) -> Attachment:
        if not hit.is_image:
            raise InputError(f"that series is a {hit.modality} object, not images to attach")
        key = self.assistant.deid_key(session_id)
        session_dir = self.assistant.session_dir(session_id)
        session_dir.mkdir(parents=True, exist_ok=True)
        name = f"pacs-series-{pseudonym('S', hit.series_uid, key)}.zip"
        scratch = session_dir / f".{name}.part"
        uid_map = UidMap.load(session_dir)
        on_instance = progress(hit) if progress is not None else None

        def instances() -> Any:
            for ds in client.iter_series(hit.study_uid, hit.series_uid):
                uid_map.add(ds, key)
                yield ds

        try:
            what = f"the series from PACS {client.name!r}"
            limits = self.assistant.config.uploads
            count = write_series_zip(instances(), scratch, limits, what, on_instance)
            att = self.assistant.add_upload(session_id, scratch, name)
        finally:
            scratch.unlink(missing_ok=True)
        uid_map.save(session_dir)
        self.assistant.audit.record(owner, "pacs_attach", session_id, f"{att.id} {client.name}")
        log.info("session %s: attached a %s series of %d instance(s) from PACS %r as %s",
                 session_id, hit.modality or "?", count, client.name, att.id)  # fmt: skip
        return att

    # -- export ------------------------------------------------------------------------
    async def segment_runs(self, session_id: str) -> list[SegmentRun]:
        """The session's successful segment results, numbered in order."""
        return segment_runs(await self.assistant.history(session_id))

    async def export(
        self,
        session_id: str,
        run: int | None = None,
        report_id: str | None = None,
    ) -> ExportResult:
        """Write DICOM SEG + measurement SR for a segment result, plus the report as SR.

        `run` is the result's number (default: the latest on a DICOM image); `report_id`
        adds that stored report's text as an SR referencing the same images.
        """
        runs = await self.segment_runs(session_id)
        if not runs:
            raise InputError("this session has no segmentation result to export yet")
        chosen = runs[-1] if run is None else next((r for r in runs if r.number == run), None)
        if chosen is None:
            raise InputError(f"no segmentation result {run}; this session has 1 to {len(runs)}")
        # Reading the source images and writing the objects blocks: not on the event loop.
        return await asyncio.to_thread(self._export, session_id, chosen, report_id)

    def _export(self, session_id: str, chosen: SegmentRun, report_id: str | None) -> ExportResult:
        key = self.assistant.deid_key(session_id)
        session_dir = self.assistant.session_dir(session_id)
        att = self._attachment(session_id, chosen.image_id)
        sources = source_images(att, key)
        uid_map = UidMap.load(session_dir).add_all(sources.datasets, key)
        uid_map.save(session_dir)
        objects = export_segmentation(chosen.result, session_dir, sources)
        files = [objects.seg_path] + ([objects.sr_path] if objects.sr_path else [])
        datasets, notes = objects.datasets, list(objects.notes)
        if report_id is not None:
            report = self.assistant.load_report(session_id, report_id)
            sections = [
                ReportSection(s.name, s.title, uid_map.restore_text(report.section_text(s.name)))
                for s in report.sections
            ]
            text_sr = build_text_report(sections, sources, datasets,
                                        title=uid_map.restore_text(report.title),
                                        final=report.status == "final")  # fmt: skip
            path = objects.seg_path.with_name(objects.seg_path.name.replace("seg-", "report-"))
            with captured_warnings():
                text_sr.save_as(path)
            files.append(path)
            datasets.append(text_sr)
        for ds, path in zip(datasets, files, strict=True):
            leaked = find_pseudonyms(ds, uid_map)
            if leaked:  # a bug, not a user error: never write pseudonyms back to a PACS
                path.unlink(missing_ok=True)
                raise MedAssistError(f"{path.name} would carry {len(leaked)} pseudonym(s)")
        log.info("session %s: exported segmentation result %d as %d DICOM object(s)",
                 session_id, chosen.number, len(files))  # fmt: skip
        return ExportResult(files, datasets, notes)

    def _attachment(self, session_id: str, image_id: str) -> Attachment:
        attachments = self.assistant.attachments(session_id)
        if image_id not in attachments:
            raise InputError(f"the result's image {image_id!r} is no longer in the session")
        return attachments[image_id]

    # -- send --------------------------------------------------------------------------
    def send(
        self, files: Sequence[Path], endpoint: str | None = None, session_id: str | None = None
    ) -> StowResult:
        """Store exported DICOM files on the PACS (STOW-RS), if the endpoint opted in.

        The files stay where they are whatever happens, so a failed send can be retried.
        A send is audited in the name of `session_id`'s owner (the files' session).
        """
        owner = self.assistant.get_session(session_id).owner if session_id else ""
        if not files:
            raise InputError("nothing to send: export the results first")
        datasets = []
        for path in files:
            with captured_warnings():
                datasets.append(dcmread(path))
        with self.client(endpoint) as client:
            result = client.store(datasets)
        log.info(
            "sent %d of %d object(s) to PACS %r (%d refused)",
            len(result.stored), len(datasets), result.endpoint, len(result.failed),
        )  # fmt: skip
        detail = f"{result.endpoint} {len(result.stored)} stored {len(result.failed)} refused"
        self.assistant.audit.record(owner, "pacs_send", session_id, detail)
        return result
