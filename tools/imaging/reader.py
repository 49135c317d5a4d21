"""`load_image`: one frame of any image attachment, a single file or a series archive.

Single files are decoded by `loader.load_file`; a ZIP of a series is read slice by slice
through `volume.load_slice` (slice ``frame`` in anatomical order), a NIfTI or NRRD volume
through `volume_file.load_volume_slice` (slice ``frame`` from inferior to superior).
Tools holding an `Attachment` call `load_attachment`, which goes by the kind decided at
upload instead of looking at the file again, and opens at the attachment's default frame.
"""

from __future__ import annotations

from pathlib import Path

from tools.attachments import Attachment, AttachmentKind
from tools.errors import InputError, ToolArgumentError
from tools.imaging.deid import label, safe_display_name
from tools.imaging.image import DEFAULT_MAX_PIXELS, LoadedImage
from tools.imaging.limits import DEFAULT_DECODE_TIMEOUT_S
from tools.imaging.loader import PROCESS_KEY, load_file, sniff
from tools.imaging.volume import load_slice
from tools.imaging.volume_file import load_volume_slice
from tools.imaging.volume_header import VOLUME_MEDIA_TYPES

__all__ = ["LoadedImage", "load_attachment", "load_image"]


def load_image(
    path: Path,
    *,
    frame: int = 0,
    deid_key: str | None = None,
    keep_raw_header: bool = False,
    timeout_s: float = DEFAULT_DECODE_TIMEOUT_S,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    with_metadata: bool = True,
) -> LoadedImage:
    """Decode frame `frame` (0-based) of the image, DICOM or series archive at `path`.

    `deid_key` is the session's de-identification key; see `loader.load_file` for the rest.
    """
    content = sniff(path)
    if content == "volume":
        return load_volume_slice(path, frame, timeout_s=timeout_s, max_pixels=max_pixels)
    if content == "series":
        return load_slice(
            path,
            frame,
            deid_key or PROCESS_KEY,
            timeout_s=timeout_s,
            max_pixels=max_pixels,
            keep_raw_header=keep_raw_header,
        )
    return load_file(
        path,
        frame=frame,
        deid_key=deid_key,
        keep_raw_header=keep_raw_header,
        timeout_s=timeout_s,
        max_pixels=max_pixels,
        with_metadata=with_metadata,
    )


def load_attachment(
    att: Attachment,
    *,
    frame: int | None = None,
    deid_key: str | None = None,
    keep_raw_header: bool = False,
    timeout_s: float = DEFAULT_DECODE_TIMEOUT_S,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> LoadedImage:
    """Decode frame `frame` of an attachment, read as its upload-time kind says.

    The default frame is the one shown for it (a series' middle slice). Whole-slide
    images are never decoded whole: ToolArgumentError points to the slide tools.
    """
    if att.kind.is_slide:
        raise ToolArgumentError(
            f"{att.id} is a whole-slide image; use slide_overview (then slide_zoom) instead"
        )
    index = att.facts.default_frame if frame is None else frame
    try:
        return _load(att, index, deid_key, keep_raw_header, timeout_s, max_pixels)
    except (InputError, ToolArgumentError) as exc:  # name the file as the person sees it
        shown = safe_display_name(att.name, att.media_type, deid_key or "")
        text = str(exc).replace(label(att.path), f"{att.id} ({shown})")
        raise type(exc)(text) from exc


def _load(
    att: Attachment,
    index: int,
    deid_key: str | None,
    keep_raw_header: bool,
    timeout_s: float,
    max_pixels: int,
) -> LoadedImage:
    if att.kind is AttachmentKind.SERIES and att.media_type in VOLUME_MEDIA_TYPES:
        return load_volume_slice(att.path, index, timeout_s=timeout_s, max_pixels=max_pixels)
    if att.kind is AttachmentKind.SERIES:
        return load_slice(
            att.path,
            index,
            deid_key or PROCESS_KEY,
            timeout_s=timeout_s,
            max_pixels=max_pixels,
            keep_raw_header=keep_raw_header,
        )
    return load_file(
        att.path,
        frame=index,
        deid_key=deid_key,
        keep_raw_header=keep_raw_header,
        timeout_s=timeout_s,
        max_pixels=max_pixels,
    )
