"""PACS round trip on a real Orthanc: attach a CT series (WADO-RS into a session), export
its 3-D segmentation as SEG + TID 1500 SR, send both back (STOW-RS).

Run: PYTHONPATH=. .venv/bin/python benchmarks/bench_pacs.py [--slices 100] [--size 256]
The segmentation is the HU-threshold test double (not TotalSegmentator): this measures
the plumbing (transfer, ZIP, upload checks, SEG/SR encoding), not segmentation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

from assistant.config import load_config
from assistant.pacs import PacsService
from assistant.service import Assistant
from assistant.testing import ScriptedChatModel
from tests.tools.imaging.factory import make_dataset
from tests.tools.pacs.orthanc import start_orthanc
from tests.tools.segmentation.test_ct import ThresholdDouble
from tools.segmentation import tool as segment_tool


def _series(n: int, size: int) -> list:
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    yy, xx = np.mgrid[:size, :size]
    body = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size * 0.4) ** 2
    out = []
    for i in range(n):
        hu = np.where(body, 40, -1000).astype(np.int16)
        hu[(yy - size / 2) ** 2 + (xx - size / 3) ** 2 < (size * 0.05) ** 2] = 700
        ds = make_dataset((hu + 1024).astype(np.int16), spacing=(0.7, 0.7))
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.ImageOrientationPatient, ds.ImagePositionPatient = [1, 0, 0, 0, 1, 0], [0, 0, 1.5 * i]
        ds.SliceThickness, ds.InstanceNumber, ds.SeriesNumber = 1.5, i + 1, 2
        ds.PatientSex, ds.StudyTime, ds.StudyID = "F", "100000", "1"
        out.append(ds)
    return out


async def run(slices: int, size: int) -> dict[str, float]:
    root = Path(tempfile.mkdtemp())
    orthanc = start_orthanc(root / "orthanc")
    try:
        data = _series(slices, size)
        for ds in data:
            orthanc.upload(ds)
        endpoint = orthanc.endpoint(stow_enabled=True, timeout_s=120).model_dump(mode="python")
        endpoint["auth"]["password"] = orthanc.password
        config = load_config({"data_dir": str(root / "data"),
                              "pacs": {"endpoints": {"orthanc": endpoint}}})  # fmt: skip
        segment_tool.volume_segmenter = lambda config: ThresholdDouble()  # type: ignore[assignment]
        async with Assistant(config, model=ScriptedChatModel([])) as assistant:
            service = PacsService(assistant)
            session = assistant.new_session().id
            t0 = time.perf_counter()
            att = service.attach_series(session, data[0].StudyInstanceUID,
                                        data[0].SeriesInstanceUID)  # fmt: skip
            t1 = time.perf_counter()
            args = {"image_id": att.id, "target": "ct_organs"}
            _ = [e async for e in assistant.run_tool(session, "segment", args)]
            t2 = time.perf_counter()
            exported = await service.export(session)
            t3 = time.perf_counter()
            result = service.send(exported.files)
            t4 = time.perf_counter()
        assert result.ok
        mb = sum(p.stat().st_size for p in exported.files) / 1e6
        return {"slices": slices, "size": size, "attach_s": round(t1 - t0, 2),
                "segment_s": round(t2 - t1, 2), "export_s": round(t3 - t2, 2),
                "stow_s": round(t4 - t3, 2), "exported_mb": round(mb, 2)}  # fmt: skip
    finally:
        orthanc.process.terminate()
        orthanc.process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slices", type=int, default=100)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.slices, args.size))))


if __name__ == "__main__":
    main()
