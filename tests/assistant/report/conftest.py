"""Fixtures: conversations with real tool-result models, and a small knowledge base."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from retrieval.embeddings import HashingEmbedder
from retrieval.knowledge import KnowledgeBase
from retrieval.types import Document, Modality, Section
from tools.geometry import Box
from tools.registry import ToolResult
from tools.segmentation.ct import VolumeSegmentResult
from tools.segmentation.measure import Area, Structure
from tools.segmentation.tool import SegmentResult
from tools.segmentation.types import Target
from tools.segmentation.volumetric import VolumeStructure
from tools.slides.navigate import SlideNoteResult, SlideZoomResult
from tools.slides.tissue import CropMeasurements
from tools.slides.types import Region

MEASURE = {"label": "pleural effusion", "side": "left", "volume_ml": 250.0, "artifacts": []}


def lung_result() -> SegmentResult:
    """segment(lung_fields) as the tool reports it (areas in mm² from pixel spacing)."""

    def lung(label: int, name: str, mm2: float) -> Structure:
        return Structure(
            label=label,
            name=name,
            area=Area(value=mm2, unit="mm²"),
            area_px=int(mm2 * 4),
            bbox=Box(x=10, y=20, width=190, height=380),
            centroid=(100.5, 210.25),
        )

    return SegmentResult(
        image_id="img1",
        target=Target.LUNG_FIELDS,
        backend="classical",
        method="threshold and convex hull",
        count=2,
        total_area=Area(value=30512.5, unit="mm²"),
        area_fraction=0.38,
        scale="mm² from DICOM pixel spacing",
        structures=[lung(1, "right lung", 16012.25), lung(2, "left lung", 14500.25)],
        region=Box(x=0, y=0, width=512, height=512),
        mask_png="seg/mask.png",
        mask_rle="seg/mask.json",
        overlay_png="seg/overlay.png",
    )


def organ_result() -> VolumeSegmentResult:
    """segment(ct_organs) on a series: volumes in mL."""
    return VolumeSegmentResult(
        image_id="img2",
        target=Target.CT_ORGANS,
        backend="totalsegmentator",
        method="nnU-Net",
        count=2,
        total_volume_ml=1702.6,
        voxel_mm=(2.5, 0.8, 0.8),
        structures=[
            VolumeStructure(
                label=5, name="liver", volume_ml=1532.4, voxels=95775, slices=(12, 61),
                centroid=(250.0, 240.0, 36.0),
            ),
            VolumeStructure(
                label=1, name="spleen", volume_ml=170.2, voxels=10638, slices=(20, 44),
                centroid=(350.0, 200.0, 30.0),
            ),
        ],
        overlay_slice=36,
        overlay_png="seg/ct.png",
        labels_nifti="seg/labels.nii.gz",
    )  # fmt: skip


def zoom_result() -> SlideZoomResult:
    """slide_zoom at 20x with a nuclei density."""
    return SlideZoomResult(
        image_id="img3",
        zoom_number=1,
        region=Region(x=2048, y=1024, width=1024, height=1024),
        shown_width=1024,
        shown_height=1024,
        magnification=20.0,
        um_per_px=0.5,
        full_resolution=False,
        measurements=CropMeasurements(
            tissue_fraction=0.81,
            mean_rgb=(180, 120, 170),
            std_rgb=(20, 25, 22),
            hematoxylin_od=0.42,
            eosin_od=0.31,
            nuclei_like_blobs=148,
            nuclei_per_mm2=1127.3,
        ),
        hint="Zoom into a smaller rectangle inside this one for more detail.",
    )


def tool_message(name: str, result: ToolResult | dict[str, object], call_id: str) -> ToolMessage:
    content = result.for_model() if isinstance(result, ToolResult) else json.dumps(result)
    return ToolMessage(content=content, tool_call_id=call_id, name=name)


def note_result() -> SlideNoteResult:
    return SlideNoteResult(image_id="img3", notes=["crowded glands with nuclear atypia"])


@pytest.fixture
def kb(tmp_path: Path) -> Iterator[KnowledgeBase]:
    base = KnowledgeBase(tmp_path / "kb", embedder=HashingEmbedder(64))
    base.add_documents(
        [
            Document(
                "guides/effusion.md",
                "document",
                ((Section.BODY, "A left pleural effusion blunts the costophrenic angle."),),
                modality=Modality.XRAY,
            ),
            Document(
                "reports/r1.txt",
                "report",
                ((Section.IMPRESSION, "Cardiomegaly without effusion."),),
                modality=Modality.XRAY,
            ),
        ]
    )
    yield base
    base.close()


def passage_of(kb: KnowledgeBase, query: str) -> dict[str, str]:
    hit = kb.search(query, 1)[0].chunk
    return {
        "citation_id": hit.citation_id,
        "text": hit.text,
        "source": hit.source,
        "section": hit.section.value,
    }


def conversation(kb: KnowledgeBase) -> list[BaseMessage]:
    """A user question, a measurement, a failed call and a knowledge search."""
    calls = [{"name": "segment", "args": {}, "id": "c1"}]
    return [
        HumanMessage(content="Please look at this chest X-ray."),
        AIMessage(content="", tool_calls=calls),
        ToolMessage(content=json.dumps(MEASURE), tool_call_id="c1", name="segment"),
        ToolMessage(
            content="no attachment 'img9'", tool_call_id="c2", name="segment", status="error"
        ),
        tool_message(
            "search_knowledge",
            {"query": "effusion", "passages": [passage_of(kb, "left pleural effusion")]},
            "c3",
        ),
        AIMessage(content="There is a left pleural effusion."),
    ]


def chest_conversation(kb: KnowledgeBase) -> list[BaseMessage]:
    """A chest X-ray session: lung fields segmented, a passage retrieved, an answer given."""
    return [
        HumanMessage(content="Segment the lungs of this chest X-ray."),
        AIMessage(content="", tool_calls=[{"name": "segment", "args": {}, "id": "c1"}]),
        tool_message("segment", lung_result(), "c1"),
        tool_message(
            "search_knowledge",
            {"query": "effusion", "passages": [passage_of(kb, "left pleural effusion")]},
            "c2",
        ),
        AIMessage(content="Both lungs are well aerated and the heart looks enlarged today."),
    ]
