"""Synthetic images with known structures (exact areas and counts) for segmentation tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from tools.segmentation._skimage import draw

Centres = list[tuple[int, int]]

NUCLEUS_CENTRES: Centres = [(20, 20), (20, 70), (70, 20), (70, 70), (45, 110), (100, 110)]
"""(row, col) of separated nuclei on a 128×140 canvas; radius 7."""


def nuclei_mask(
    shape: tuple[int, int] = (128, 140), centres: Centres = NUCLEUS_CENTRES, radius: int = 7
) -> NDArray[np.int32]:
    """Instance labels of disks (1..N in the order of `centres`)."""
    labels = np.zeros(shape, np.int32)
    for i, (r, c) in enumerate(centres, start=1):
        labels[draw.disk((r, c), radius, shape=shape)] = i
    return labels


def fluorescence(labels: NDArray[np.int32]) -> NDArray[np.uint8]:
    """Bright nuclei (200) on a dark background (10)."""
    return np.where(labels > 0, 200, 10).astype(np.uint8)


def he_tile(labels: NDArray[np.int32]) -> NDArray[np.uint8]:
    """Purple hematoxylin-stained nuclei on pink eosin stroma, RGB."""
    img = np.empty((*labels.shape, 3), np.uint8)
    img[:] = (235, 160, 200)
    img[labels > 0] = (70, 40, 130)
    return img


def chest_xray(shape: tuple[int, int] = (200, 180)) -> tuple[NDArray[np.uint8], NDArray[np.int32]]:
    """A frontal-CXR-like image: dark air, bright body, two dark lungs; returns truth 1/2."""
    h, w = shape
    img = np.full(shape, 15, np.uint8)
    img[draw.ellipse(h // 2, w // 2, h * 0.47, w * 0.45, shape=shape)] = 190
    truth = np.zeros(shape, np.int32)
    truth[draw.ellipse(int(h * 0.45), int(w * 0.29), h * 0.3, w * 0.12, shape=shape)] = 1
    truth[draw.ellipse(int(h * 0.45), int(w * 0.71), h * 0.3, w * 0.12, shape=shape)] = 2
    img[truth > 0] = 70
    return img, truth


def fundus(size: int = 160) -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
    """An orange disc on black with dark vessel lines 3 px wide; returns the vessel truth."""
    img = np.zeros((size, size, 3), np.uint8)
    fov = np.zeros((size, size), bool)
    fov[draw.disk((size // 2, size // 2), size * 0.45, shape=fov.shape)] = True
    img[fov] = (200, 110, 50)
    vessels = np.zeros_like(fov)
    for col in (40, 80, 120):
        vessels[20:140, col - 1 : col + 2] = True
    for row in (50, 100):
        vessels[row - 1 : row + 2, 30:130] = True
    vessels &= fov
    img[vessels] = (120, 40, 20)
    return img, vessels


def write_dicom(
    path: Path,
    pixels: NDArray[np.uint8],
    spacing_mm: tuple[float, float],
    photometric: str = "MONOCHROME2",
) -> Path:
    """A minimal uncompressed 8-bit CR file with PixelSpacing (row, col) in mm."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.1")
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CR"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelSpacing = [f"{spacing_mm[0]:g}", f"{spacing_mm[1]:g}"]
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path
