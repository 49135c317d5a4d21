"""Synthetic pyramidal TIFFs with known content, for tests and benchmarks.

Writes the layouts our readers meet: a generic tiled pyramid (OpenSlide
"generic-tiff"), an Aperio-like SVS (objective power and mpp in the description),
an OME-TIFF with its pyramid in SubIFDs (tifffile fallback), and a flat stripped TIFF.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import tifffile
from numpy.typing import NDArray
from PIL import Image

Layout = Literal["generic", "aperio", "ome", "stripped"]
Compression = Literal["zlib", "jpeg", "none"]


def _pil_jpeg(data: NDArray[np.uint8], level: int | None = None, **_: Any) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(data).squeeze()).save(
        buf, format="JPEG", quality=level or 85
    )
    return buf.getvalue()


def _enable_jpeg_writing() -> None:
    """Let tifffile write JPEG tiles with Pillow when the imagecodecs package is absent."""
    codecs = cast(Any, tifffile.TIFF.COMPRESSORS)._codecs  # private: no public hook exists
    codecs.setdefault(7, _pil_jpeg)


def pyramid(base: NDArray[np.uint8], levels: int, factor: int = 2) -> list[NDArray[np.uint8]]:
    """Return `base` and `levels - 1` box-filtered reductions by `factor`."""
    images = [Image.fromarray(base)]
    for _ in range(levels - 1):
        images.append(images[-1].reduce(factor))
    return [np.asarray(im) for im in images]


def write_slide(
    path: Path,
    base: NDArray[np.uint8],
    *,
    layout: Layout = "generic",
    levels: int = 3,
    tile: int = 64,
    compression: Compression = "zlib",
    mpp: float | None = 0.5,
    power: float = 20.0,
) -> Path:
    """Write `base` (H×W×3 uint8) as a slide file; return `path`."""
    comp: str | None = None if compression == "none" else compression
    if comp == "jpeg":
        _enable_jpeg_writing()
    images = pyramid(base, levels if layout != "stripped" else 1)
    height, width = base.shape[:2]
    res: dict[str, Any] = {}
    if mpp:
        res = {"resolution": (1e4 / mpp, 1e4 / mpp), "resolutionunit": "CENTIMETER"}
    common: dict[str, Any] = {"photometric": "rgb", "compression": comp}
    with tifffile.TiffWriter(path, bigtiff=width * height > 2**28, ome=layout == "ome") as tw:
        if layout == "stripped":
            tw.write(base, rowsperstrip=64, **common, **res)
        elif layout == "ome":
            meta = {"axes": "YXS"} | ({"PhysicalSizeX": mpp, "PhysicalSizeY": mpp} if mpp else {})
            tw.write(images[0], tile=(tile, tile), subifds=levels - 1, metadata=meta, **common)
            for img in images[1:]:
                tw.write(img, tile=(tile, tile), subfiletype=1, **common)
        else:
            description = ""
            if layout == "aperio":
                description = (
                    f"Aperio Image Library synthetic\r\n{width}x{height} [0,0 {width}x{height}] "
                    f"({tile}x{tile}) RGB|AppMag = {power:g}" + (f"|MPP = {mpp}" if mpp else "")
                )
            for i, img in enumerate(images):
                tw.write(
                    img, tile=(tile, tile), subfiletype=0 if i == 0 else 1,
                    description=description if i == 0 else None, metadata=None, **common, **res,
                )
    return path


def tiled_jpeg_slide(
    path: Path,
    tile_image: NDArray[np.uint8],
    repeat: tuple[int, int],
    levels: int,
    tile: int = 256,
    mpp: float = 0.25,
) -> Path:
    """Write a large JPEG-tiled generic pyramid by repeating `tile_image`, fast.

    Level k repeats ``tile_image`` reduced by 2**k; each distinct tile is JPEG-encoded
    once and written pre-compressed, so a 50k×50k pyramid takes seconds, not minutes.
    """
    _enable_jpeg_writing()
    th, tw_ = tile_image.shape[:2]
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        for k, small in enumerate(pyramid(tile_image, levels)):
            shape = (th * repeat[1] // 2**k, tw_ * repeat[0] // 2**k, 3)
            sh, sw = small.shape[:2]
            mosaic = np.tile(small, (-(-tile // sh) + 1, -(-tile // sw) + 1, 1))
            encoded: dict[tuple[int, int], bytes] = {}

            def tiles(
                shape: tuple[int, int, int] = shape,
                sh: int = sh,
                sw: int = sw,
                mosaic: NDArray[np.uint8] = mosaic,
                encoded: dict[tuple[int, int], bytes] = encoded,
            ) -> Iterator[bytes]:
                for y in range(0, shape[0], tile):
                    for x in range(0, shape[1], tile):
                        key = (y % sh, x % sw)
                        if key not in encoded:
                            block = mosaic[key[0] : key[0] + tile, key[1] : key[1] + tile]
                            encoded[key] = _pil_jpeg(block, 80)
                        yield encoded[key]

            scale = 1e4 / (mpp * 2**k)
            tw.write(
                tiles(), shape=shape, dtype=np.uint8, tile=(tile, tile), photometric="rgb",
                compression="jpeg", subfiletype=0 if k == 0 else 1,
                resolution=(scale, scale), resolutionunit="CENTIMETER",
            )
    return path


_WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"  # VL Whole Slide Microscopy Image Storage


def _code(value: str, scheme: str, meaning: str) -> Any:
    from pydicom.dataset import Dataset

    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def write_dicom_wsi(
    folder: Path,
    base: NDArray[np.uint8],
    *,
    levels: int = 2,
    tile: int = 64,
    mpp: float = 0.5,
    power: float = 20.0,
    patient_name: str = "",
) -> list[Path]:
    """Write `base` (H×W×3 uint8) as a DICOM-WSI pyramid, one file per level; return the files.

    Each level is a VL Whole Slide Microscopy Image (TILED_FULL, JPEG baseline tiles, one
    series and pyramid UID), the form OpenSlide 4 reads through libdicom. Tiles at the
    right and bottom edges are padded with white, as scanners do.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import UID, JPEGBaseline8Bit, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    study, series, pyramid_uid, frame_ref = (generate_uid() for _ in range(4))
    files = []
    for k, img in enumerate(pyramid(base, levels)):
        height, width = img.shape[:2]
        cols, rows = -(-width // tile), -(-height // tile)
        padded = np.full((rows * tile, cols * tile, 3), 255, np.uint8)
        padded[:height, :width] = img
        frames = [
            _pil_jpeg(padded[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile], 95)
            for r in range(rows)
            for c in range(cols)
        ]
        sop = generate_uid()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = UID(_WSI_SOP_CLASS), sop
        meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = _WSI_SOP_CLASS, sop
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.PyramidUID, ds.FrameOfReferenceUID = pyramid_uid, frame_ref
        ds.Modality, ds.Manufacturer = "SM", "medassist synthetic"
        ds.PatientName, ds.PatientID = patient_name, ""
        ds.ImageType = ["ORIGINAL" if k == 0 else "DERIVED", "PRIMARY", "VOLUME",
                        "NONE" if k == 0 else "RESAMPLED"]
        ds.InstanceNumber, ds.SeriesNumber = k + 1, 1
        ds.DimensionOrganizationType = "TILED_FULL"
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 3, "YBR_FULL_422"
        ds.PlanarConfiguration, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 0, 8, 8, 7
        ds.PixelRepresentation = 0
        ds.Rows = ds.Columns = tile
        ds.NumberOfFrames = len(frames)
        ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows = width, height
        ds.TotalPixelMatrixFocalPlanes, ds.NumberOfOpticalPaths = 1, 1
        spacing_mm = mpp * 2**k / 1000
        ds.ImagedVolumeWidth = base.shape[1] * mpp / 1000
        ds.ImagedVolumeHeight = base.shape[0] * mpp / 1000
        ds.ImagedVolumeDepth = 0.0
        origin = Dataset()
        origin.XOffsetInSlideCoordinateSystem = origin.YOffsetInSlideCoordinateSystem = 0
        ds.TotalPixelMatrixOriginSequence = [origin]
        ds.ImageOrientationSlide = [0, -1, 0, -1, 0, 0]
        path_item = Dataset()
        path_item.OpticalPathIdentifier = "0"
        path_item.IlluminationTypeCodeSequence = [
            _code("111744", "DCM", "Brightfield illumination")
        ]
        path_item.IlluminationColorCodeSequence = [_code("414298005", "SCT", "Full Spectrum")]
        path_item.ObjectiveLensPower = power
        ds.OpticalPathSequence = [path_item]
        measures = Dataset()
        measures.PixelSpacing = [spacing_mm, spacing_mm]
        measures.SliceThickness = 0
        frame_type = Dataset()
        frame_type.FrameType = ds.ImageType
        shared = Dataset()
        shared.PixelMeasuresSequence = [measures]
        shared.WholeSlideMicroscopyImageFrameTypeSequence = [frame_type]
        ds.SharedFunctionalGroupsSequence = [shared]
        ds.ContainerIdentifier = "SLIDE_1"
        ds.SpecimenDescriptionSequence = []
        ds.LossyImageCompression = "01"
        ds.PixelData = encapsulate(frames)
        ds["PixelData"].VR = "OB"
        path = folder / f"level-{k}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files
