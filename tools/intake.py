"""What an upload is, decided once when it is checked; and the one way to show any attachment.

`inspect_upload` runs the header checks (`tools.imaging.uploads.check_upload`), decides
the attachment's kind, then decodes what will be shown (the default frame: a series'
middle slice, a NIfTI or NRRD volume being read as a series; a slide's thumbnail), so a
file that passes the format check but cannot be decoded is refused at upload in plain
words, the decoder's own wording going to the log.
The facts learned on the way (`ImageFacts`) are stored with the attachment, so no later
caller opens the file again to ask what it is. An optional `classify` hook fills in the
image class from the pixels that were decoded anyway.

`preview_png` and `view_png` are how messages, regions and the viewer show an attachment;
tools decode one through `tools.imaging.reader.load_attachment`.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tools.attachments import Attachment, AttachmentKind, ImageFacts
from tools.errors import InputError, UploadRejectedError
from tools.imaging.archive import SERIES_MEDIA_TYPE, read_unpacked
from tools.imaging.dicom import read_dicom
from tools.imaging.image import DEFAULT_MAX_PIXELS
from tools.imaging.loader import load_file, sniff
from tools.imaging.raster import raster_format
from tools.imaging.render import display_array, render_png, render_view
from tools.imaging.uploads import MEDIA_TYPES, check_upload
from tools.imaging.volume import SeriesFile, index_series, series_index
from tools.imaging.volume_file import image_of, media_type_of, read_geometry, read_volume
from tools.imaging.volume_header import VOLUME_MEDIA_TYPES, volume_format
from tools.imaging.windowing import Window, WindowPreset
from tools.imaging.wsi_archive import WSI_ARCHIVE_MEDIA_TYPE, slide_in_archive, wsi_base_file
from tools.settings import UploadSettings
from tools.slides import is_slide, open_slide, thumbnail_png

log = logging.getLogger(__name__)

CHECK_THUMBNAIL_SIDE = 512
"""Longer side of the slide thumbnail decoded at upload (and given to the classifier)."""

Classify = Callable[[AttachmentKind, ImageFacts, NDArray[np.uint8]], ImageFacts]
"""Fills in `image_class`/`image_class_by` of the facts from the shown 8-bit pixels
(grayscale or RGB: the default frame with its default window, or a slide thumbnail)."""

_WHAT = {
    AttachmentKind.IMAGE: "an image",
    AttachmentKind.DICOM: "a DICOM image",
    AttachmentKind.SERIES: "a DICOM series",
    AttachmentKind.SLIDE: "a whole-slide image",
    AttachmentKind.SLIDE_ARCHIVE: "a DICOM whole-slide image",
}


@dataclass(frozen=True)
class Inspection:
    """What the upload check decided about a file: stored with the attachment."""

    media_type: str
    kind: AttachmentKind
    facts: ImageFacts


def inspect_upload(
    path: Path, name: str, limits: UploadSettings, classify: Classify | None = None
) -> Inspection:
    """Check a received file, decide its kind and decode what will be shown of it.

    Raises UploadRejectedError: a broken limit or an unsupported type (from the header
    checks), or pixels that cannot be decoded (damaged or cut short), in words for the
    person; `name` is used in messages only and never logged.
    """
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".inspect-") as tmp:
        media_type = check_upload(path, name, limits, unpack_to=Path(tmp))
        kind = detect_kind(path, media_type)
        unpacked = Path(tmp) / "files"
        files = read_unpacked(unpacked).files if unpacked.is_dir() else None
        try:
            facts, shown = _look(path, kind, files, limits.max_pixels)
        except Exception as exc:  # whatever stops the decoder: the file cannot be shown
            log.warning(
                "upload refused: %s passed the format check but does not decode: %s: %s",
                kind.value,
                type(exc).__name__,
                exc,
                exc_info=not isinstance(exc, InputError),
            )
            what = "a NIfTI or NRRD volume" if media_type in VOLUME_MEDIA_TYPES else _WHAT[kind]
            raise UploadRejectedError(
                f"{name}: this looks like {what}, but its picture cannot be read: the "
                "file is probably damaged or cut short. Export or copy it again and upload "
                "the new file."
            ) from exc
    if classify is not None:
        try:
            facts = classify(kind, facts, shown)
        except Exception:  # an unclassified upload is still a good upload
            log.warning("image classifier failed on a %s; left unclassified", kind, exc_info=True)
    return Inspection(media_type, kind, facts)


def inspect_stored(path: Path, media_type: str | None = None) -> Inspection:
    """Kind and facts of a file already stored (uploads of older versions), never raising.

    Without a media type it is read from the content. A file that no longer decodes keeps
    its kind with default facts; whoever opens it later reports the problem.
    """
    kind = detect_kind(path, media_type)
    try:
        facts, _ = _look(path, kind, None)
    except Exception as exc:  # noqa: BLE001  (a stored file that no longer decodes keeps its kind)
        log.warning("stored %s does not decode: %s: %s", kind.value, type(exc).__name__, exc)
        facts = ImageFacts()
    return Inspection(media_type or _media_type(path, kind), kind, facts)


def detect_kind(path: Path, media_type: str | None = None) -> AttachmentKind:
    """How the file at `path` is read; `media_type` (from the upload check) settles archives.

    The one place where a file's kind is worked out from its content.
    """
    if media_type == SERIES_MEDIA_TYPE or media_type in VOLUME_MEDIA_TYPES:
        return AttachmentKind.SERIES
    if media_type == WSI_ARCHIVE_MEDIA_TYPE:
        return AttachmentKind.SLIDE_ARCHIVE
    content = sniff(path)
    if content == "volume":  # NIfTI, NRRD: slice by slice, as a series
        return AttachmentKind.SERIES
    if content == "series":  # a ZIP without a media type: look inside (unpacked beside it)
        if slide_in_archive(path) is not None:
            return AttachmentKind.SLIDE_ARCHIVE
        return AttachmentKind.SERIES
    if is_slide(path):
        return AttachmentKind.SLIDE
    return AttachmentKind.IMAGE if content == "raster" else AttachmentKind.DICOM


def _media_type(path: Path, kind: AttachmentKind) -> str:
    if kind is AttachmentKind.SERIES and volume_format(path) is not None:
        return media_type_of(read_geometry(path))
    if kind is AttachmentKind.SERIES:
        return SERIES_MEDIA_TYPE
    if kind is AttachmentKind.SLIDE_ARCHIVE:
        return WSI_ARCHIVE_MEDIA_TYPE
    if sniff(path) != "raster":
        return "application/dicom"
    with path.open("rb") as fh:
        fmt = raster_format(fh.read(132))
    return MEDIA_TYPES.get(fmt or "", "application/octet-stream")


def _look(
    path: Path,
    kind: AttachmentKind,
    files: Sequence[Path] | None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[ImageFacts, NDArray[np.uint8]]:
    """Decode what will be shown of the file and the facts learned doing it.

    `files` are the archive's members unpacked at upload; None reads a stored archive
    through the caches (unpacked once beside it).
    """
    if kind.is_slide:
        return _look_slide(path, kind, files)
    if kind is AttachmentKind.SERIES and volume_format(path) is not None:
        return _look_volume(path, max_pixels)
    frame, count, series = 0, None, None
    target, within = path, 0
    if kind is AttachmentKind.SERIES:
        series = index_series(files) if files is not None else series_index(path)
        frame, count = series.middle, series.count
        target, within = series.slices[series.middle]
    image = load_file(target, frame=within, max_pixels=max_pixels)
    pixels, _ = display_array(image)
    facts = ImageFacts(
        width=image.width,
        height=image.height,
        frames=count or image.frame_count,
        default_frame=frame,
        modality=_modality(series) or image.modality,
        body_part=image.body_part,
        spacing_known=image.spacing_mm is not None,
    )
    return facts, pixels


def _look_volume(path: Path, max_pixels: int) -> tuple[ImageFacts, NDArray[np.uint8]]:
    """Decode every voxel of a NIfTI or NRRD file and show its middle slice.

    Reading every voxel at upload is what refuses a file cut short in its data.
    """
    volume = read_volume(path)
    geometry = volume.geometry
    image = image_of(volume, geometry.middle, max_pixels)
    pixels, _ = display_array(image)
    facts = ImageFacts(
        width=image.width,
        height=image.height,
        frames=geometry.shape[0],
        default_frame=geometry.middle,
        modality=geometry.modality,
        spacing_known=geometry.spacing_known,
    )
    return facts, pixels


def _modality(series: SeriesFile | None) -> str | None:
    return series.series.modality if series is not None else None


def _look_slide(
    path: Path, kind: AttachmentKind, files: Sequence[Path] | None
) -> tuple[ImageFacts, NDArray[np.uint8]]:
    target = path
    if files is not None and kind is AttachmentKind.SLIDE_ARCHIVE:
        base = wsi_base_file(files)
        if base is None:
            raise InputError("the archive holds no DICOM whole-slide level")
        target = base
    with open_slide(target) as slide:
        width, height = slide.dimensions
        mpp = slide.mpp
        thumb = np.asarray(slide.thumbnail(CHECK_THUMBNAIL_SIDE).convert("RGB"))
    modality = None
    if sniff(target) == "dicom":
        ds, _ = read_dicom(target, stop_before_pixels=True)
        modality = str(ds.get("Modality", "") or "") or None
    facts = ImageFacts(width=width, height=height, modality=modality, spacing_known=mpp is not None)
    return facts, thumb


def preview_png(
    att: Attachment,
    max_side: int,
    *,
    frame: int | None = None,
    window: WindowPreset | Window = "auto",
    ct_windows_rgb: bool = False,
) -> bytes:
    """A bounded PNG of any attachment: a slide's thumbnail, else one rendered frame.

    `frame` defaults to the attachment's default frame (a series' middle slice); a slide
    is never decoded whole.
    """
    if att.kind.is_slide:
        return thumbnail_png(att.path, max_side)
    index = att.facts.default_frame if frame is None else frame
    return render_png(att.path, max_side, window=window, frame=index, ct_windows_rgb=ct_windows_rgb)


def view_png(
    att: Attachment, *, window: WindowPreset | Window = "auto", frame: int | None = None
) -> tuple[bytes, str]:
    """PNG and caption of one frame for the viewer (clamped to the attachment's frames)."""
    if att.kind.is_slide:
        raise InputError(f"{att.id} is a whole-slide image: it is navigated, not rendered")
    index = att.facts.default_frame if frame is None else frame
    index = min(max(index, 0), att.facts.frames - 1)
    return render_view(att.path, window=window, frame=index)


__all__ = [
    "CHECK_THUMBNAIL_SIDE",
    "Classify",
    "Inspection",
    "detect_kind",
    "inspect_stored",
    "inspect_upload",
    "preview_png",
    "view_png",
]
