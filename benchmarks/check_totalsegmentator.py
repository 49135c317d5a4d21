"""Plumbing check of the TotalSegmentator backend against the real package, offline.

TotalSegmentator's weights cannot be downloaded here, so this builds a tiny, randomly
initialised nnU-Net v2 checkpoint of the real architecture family (PlainConvUNet, built
by nnU-Net's own `get_network_from_plans` from the plans) in the folder layout the
package expects for the ``total`` task's fast model:

    <home>/nnunet/results/Dataset297_TotalSegmentator_total_3mm_1559subj/
        nnUNetTrainer_4000epochs_NoMirroring__nnUNetPlans__3d_fullres/
            dataset.json  plans.json  fold_0/checkpoint_final.pth

writes a small synthetic CT series (a ZIP of DICOM slices), and runs

1. the package's own API on `to_nifti(volume)`: is its label image on the input grid?
2. medassist's `segment` tool (target ct_organs, the totalsegmentator backend read from
   a segmentation.yaml naming that home): labels on the series grid, volumes in mL,
   overlay PNG and label NIfTI written, structure names from the package's class map.

Every socket connection or DNS lookup in this process is recorded (an audit hook) and
refused: the run must need none. The labels are random, so only the plumbing is
checked, never the segmentation's quality. It needs an interpreter with
TotalSegmentator installed and medassist importable, e.g.

    PYTHONPATH=. /tmp/ts/bin/python benchmarks/check_totalsegmentator.py
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

DATASET = "Dataset297_TotalSegmentator_total_3mm_1559subj"
TRAINER = "nnUNetTrainer_4000epochs_NoMirroring"
MODEL_DIR = f"{TRAINER}__nnUNetPlans__3d_fullres"
ORIENTATIONS = {
    "axial": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    "oblique": ((0.9659258, 0.2588190, 0.0), (-0.2588190, 0.9659258, 0.0)),  # 15° about z
}
"""ImageOrientationPatient (row, column direction cosines) of the synthetic series."""

NETWORK_EVENTS: list[str] = []


def _refuse_network(event: str, args: tuple[Any, ...]) -> None:
    """Record and refuse IP connections and name lookups; nnU-Net's Unix sockets pass."""
    if event == "socket.connect" and not isinstance(args[1], tuple):
        return  # AF_UNIX: multiprocessing's manager
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname"):
        NETWORK_EVENTS.append(f"{event} {args[1] if event == 'socket.connect' else args}")
        raise OSError(f"network refused by check_totalsegmentator: {event}")


def plans(patch: int, features: tuple[int, ...], reader_writer: str) -> dict[str, Any]:
    """A tiny 3d_fullres nnU-Net v2 plan: PlainConvUNet, 3 mm spacing, CT normalisation."""
    stages = len(features)
    resampling = {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None}
    return {
        "dataset_name": DATASET,
        "plans_name": "nnUNetPlans",
        "original_median_spacing_after_transp": [3.0, 3.0, 3.0],
        "original_median_shape_after_transp": [100, 100, 100],
        "image_reader_writer": reader_writer,
        "transpose_forward": [0, 1, 2],
        "transpose_backward": [0, 1, 2],
        "configurations": {
            "3d_fullres": {
                "data_identifier": "nnUNetPlans_3d_fullres",
                "preprocessor_name": "DefaultPreprocessor",
                "batch_size": 2,
                "patch_size": [patch] * 3,
                "median_image_size_in_voxels": [100, 100, 100],
                "spacing": [3.0, 3.0, 3.0],
                "normalization_schemes": ["CTNormalization"],
                "use_mask_for_norm": [False],
                "resampling_fn_data": "resample_data_or_seg_to_shape",
                "resampling_fn_seg": "resample_data_or_seg_to_shape",
                "resampling_fn_data_kwargs": resampling,
                "resampling_fn_seg_kwargs": {**resampling, "is_seg": True, "order": 1},
                "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
                "resampling_fn_probabilities_kwargs": {**resampling, "order": 1},
                "architecture": {
                    "network_class_name": "dynamic_network_architectures.architectures.unet."
                    "PlainConvUNet",
                    "arch_kwargs": {
                        "n_stages": stages,
                        "features_per_stage": list(features),
                        "conv_op": "torch.nn.modules.conv.Conv3d",
                        "kernel_sizes": [[3, 3, 3]] * stages,
                        "strides": [[1, 1, 1]] + [[2, 2, 2]] * (stages - 1),
                        "n_conv_per_stage": [1] * stages,
                        "n_conv_per_stage_decoder": [1] * (stages - 1),
                        "conv_bias": True,
                        "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d",
                        "norm_op_kwargs": {"eps": 1e-05, "affine": True},
                        "dropout_op": None,
                        "dropout_op_kwargs": None,
                        "nonlin": "torch.nn.LeakyReLU",
                        "nonlin_kwargs": {"inplace": True},
                    },
                    "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"],
                },
                "batch_dice": False,
            }
        },
        "experiment_planner_used": "ExperimentPlanner",
        "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": {
            "0": {
                "max": 3000.0,
                "mean": 40.0,
                "median": 40.0,
                "min": -1024.0,
                "percentile_00_5": -1000.0,
                "percentile_99_5": 1500.0,
                "std": 300.0,
            }
        },
    }


def build_checkpoint(
    home: Path, patch: int, features: tuple[int, ...], reader_writer: str, seed: int
) -> Path:
    """Write the random fast-``total`` checkpoint under `home`; return its model folder."""
    import nnunetv2
    import torch
    from nnunetv2.utilities.find_class_by_name import recursive_find_python_class
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager
    from totalsegmentator.map_to_binary import class_map

    from tools.segmentation.totalseg import weights_dir

    labels = {"background": 0, **{name: int(k) for k, name in class_map["total"].items()}}
    dataset = {
        "channel_names": {"0": "CT"},
        "labels": labels,
        "numTraining": 1,
        "file_ending": ".nii.gz",
        "name": DATASET,
        "description": "RANDOM WEIGHTS: plumbing check only (benchmarks/check_totalsegmentator.py)",
    }
    plan = plans(patch, features, reader_writer)
    folder = weights_dir(home) / DATASET / MODEL_DIR
    (folder / "fold_0").mkdir(parents=True, exist_ok=True)
    (folder / "dataset.json").write_text(json.dumps(dataset, indent=2))
    (folder / "plans.json").write_text(json.dumps(plan, indent=2))

    manager = PlansManager(plan)
    config = manager.get_configuration("3d_fullres")
    heads = manager.get_label_manager(dataset).num_segmentation_heads
    torch.manual_seed(seed)
    trainer = recursive_find_python_class(
        str(Path(nnunetv2.__path__[0]) / "training" / "nnUNetTrainer"),
        TRAINER,
        "nnunetv2.training.nnUNetTrainer",
    )
    network = trainer.build_network_architecture(
        manager, config, 1, heads, enable_deep_supervision=False
    )
    checkpoint = {
        "network_weights": network.state_dict(),
        "init_args": {
            "plans": plan,
            "configuration": "3d_fullres",
            "fold": 0,
            "dataset_json": dataset,
            "device": torch.device("cpu"),
        },
        "trainer_name": TRAINER,
        "inference_allowed_mirroring_axes": None,  # NoMirroring trainer
        "current_epoch": 0,
    }
    torch.save(checkpoint, folder / "fold_0" / "checkpoint_final.pth")
    return folder


def phantom(slices: int, rows: int, cols: int) -> NDArray[np.int16]:
    """HU of a crude trunk: air, a soft-tissue ellipse, two lungs, a liver, a spine."""
    z, y, x = np.mgrid[:slices, :rows, :cols].astype(np.float32)
    y, x = y / rows - 0.5, x / cols - 0.5
    hu = np.full((slices, rows, cols), -1000, np.int16)
    hu[(x / 0.45) ** 2 + (y / 0.35) ** 2 < 1] = 40
    for cx in (-0.2, 0.2):
        hu[((x - cx) / 0.15) ** 2 + ((y + 0.05) / 0.2) ** 2 < 1] = -850
    hu[(z > slices / 2) & (((x + 0.15) / 0.2) ** 2 + ((y - 0.1) / 0.15) ** 2 < 1)] = 60
    hu[((x / 0.06) ** 2 + ((y - 0.25) / 0.06) ** 2) < 1] = 700
    return hu


def write_series(
    path: Path, shape: tuple[int, int, int], spacing: tuple[float, float, float], orient: str
) -> Path:
    """A ZIP of one DICOM file per slice (stored out of order) on the given grid."""
    from pydicom.uid import generate_uid

    from tests.tools.imaging.factory import make_dataset

    slice_mm, row_mm, col_mm = spacing
    row_dir, col_dir = (np.array(v) for v in ORIENTATIONS[orient])
    normal = np.cross(row_dir, col_dir)
    hu = phantom(*shape)
    series_uid = generate_uid()
    order = np.random.default_rng(0).permutation(shape[0])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in order:
            ds = make_dataset((hu[i] + 1024).astype(np.int16), spacing=(row_mm, col_mm))
            ds.SeriesInstanceUID, ds.SeriesNumber = series_uid, 2
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.InstanceNumber = int(i) + 1
            ds.ImageOrientationPatient = [*row_dir.tolist(), *col_dir.tolist()]
            origin = np.array([-100.0, -120.0, -300.0]) + normal * slice_mm * i
            ds.ImagePositionPatient = [round(float(v), 4) for v in origin]
            ds.SliceThickness = slice_mm
            buf = io.BytesIO()
            ds.save_as(buf, enforce_file_format=True)
            zf.writestr(f"series/IM{i:04d}.dcm", buf.getvalue())
    return path


def _config_dir(root: Path, home: Path, device: str) -> Path:
    """A copy of configs/ whose segmentation.yaml points totalsegmentator at `home`."""
    import yaml

    from assistant.config import REPO_ROOT

    dest = root / "configs"
    shutil.copytree(REPO_ROOT / "configs", dest)
    seg = yaml.safe_load((dest / "segmentation.yaml").read_text())
    seg["totalsegmentator"] = {"home": str(home), "fast": True, "device": device}
    (dest / "segmentation.yaml").write_text(yaml.safe_dump(seg))
    return dest


def check_package_grid(archive: Path, device: str) -> dict[str, Any]:
    """Call the package's API on `to_nifti(volume)` and compare its answer's grid."""
    from totalsegmentator.python_api import totalsegmentator

    from tools.imaging.volume import load_volume
    from tools.segmentation.volumetric import to_nifti

    volume = load_volume(archive, "check")
    image = to_nifti(volume)
    start = time.perf_counter()
    result = totalsegmentator(image, None, ml=True, fast=True, device=device, quiet=True)
    seconds = time.perf_counter() - start
    diff = float(np.abs(result.affine - image.affine).max())
    return {
        "input_shape": list(image.shape),
        "output_shape": list(result.shape),
        "same_shape": result.shape == image.shape,
        "affine_max_abs_diff_mm": diff,
        "dtype": str(result.get_data_dtype()),
        "labels_present": len(np.unique(np.asarray(result.dataobj))),
        "seconds": round(seconds, 2),
    }


def run_tool(archive: Path, session: Path) -> tuple[Any, float]:
    """The `segment` tool, target ct_organs, as the agent would call it."""
    from tools.attachments import Attachment
    from tools.registry import ToolContext
    from tools.segmentation.schema import SegmentArgs
    from tools.segmentation.tool import segment
    from tools.segmentation.types import Target

    data = archive.read_bytes()
    att = Attachment(
        id="img1",
        path=archive,
        name="dicom-series-1.zip",
        media_type="application/zip",
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
    )
    ctx = ToolContext(session_id="check", session_dir=session, attachments={"img1": att})
    start = time.perf_counter()
    result = segment(SegmentArgs(image_id="img1", target=Target.CT_ORGANS), ctx)
    return result, time.perf_counter() - start


def check_tool_result(result: Any, archive: Path, session: Path) -> list[str]:
    """Problems with the tool's answer (empty when the plumbing holds)."""
    import nibabel as nib
    from PIL import Image
    from totalsegmentator.map_to_binary import class_map

    from tools.imaging.volume import load_volume
    from tools.segmentation.volumetric import to_nifti, voxel_ml

    problems = []
    volume = load_volume(archive, "check")
    grid = to_nifti(volume)
    labels = nib.load(session / result.labels_nifti)
    if labels.shape != grid.shape:
        problems.append(f"label NIfTI shape {labels.shape}, series grid {grid.shape}")
    if not np.allclose(labels.affine, grid.affine, atol=1e-4):
        problems.append(f"label NIfTI affine\n{labels.affine}\nseries\n{grid.affine}")
    with Image.open(session / result.overlay_png) as overlay:
        if overlay.size != (volume.values.shape[2], volume.values.shape[1]):
            problems.append(f"overlay is {overlay.size}, slices are {volume.values.shape[1:]}")
    names = {str(v).replace("_", " ") for v in class_map["total"].values()}
    data = np.asarray(labels.dataobj)
    per_voxel = voxel_ml(volume.spacing_mm)
    for s in result.structures:
        if s.name not in names:
            problems.append(f"structure name {s.name!r} is not in class_map['total']")
        if class_map["total"][s.label].replace("_", " ") != s.name:
            problems.append(f"label {s.label} is named {s.name!r}")
        voxels = int((data == s.label).sum())
        if voxels != s.voxels or abs(s.volume_ml - round(voxels * per_voxel, 2)) > 1e-9:
            problems.append(f"{s.name}: {s.voxels} voxels / {s.volume_ml} mL, NIfTI {voxels}")
    if result.count == 0:
        problems.append("no structure at all: nothing was checked")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Build the checkpoint, write the series, run both checks and print a JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, help="weights home to build (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument(
        "--shape",
        type=int,
        nargs=3,
        default=(32, 64, 64),
        metavar="N",
        help="slices rows columns of the synthetic series (default 32 64 64)",
    )
    parser.add_argument(
        "--spacing",
        type=float,
        nargs=3,
        default=(2.5, 1.5, 1.5),
        metavar="MM",
        help="slice row column spacing in mm (default 2.5 1.5 1.5)",
    )
    parser.add_argument("--orientation", choices=sorted(ORIENTATIONS), default="axial")
    parser.add_argument("--patch", type=int, default=32, help="network patch edge (voxels)")
    parser.add_argument(
        "--features",
        type=int,
        nargs="+",
        default=(4, 8, 16),
        help="features per stage (its length is the number of stages)",
    )
    parser.add_argument(
        "--reader-writer",
        default="SimpleITKIO",
        choices=("SimpleITKIO", "NibabelIO", "NibabelIOWithReorient"),
        help="nnU-Net image reader/writer named in plans.json",
    )
    parser.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args(argv)

    sys.addaudithook(_refuse_network)
    root = Path(tempfile.mkdtemp(prefix="ts-check-"))
    home = args.home or root / "totalseg-home"
    os.environ["TOTALSEG_HOME_DIR"] = str(home)
    report: dict[str, Any] = {"python": sys.version.split()[0]}
    try:
        start = time.perf_counter()
        from importlib.metadata import version

        import torch

        torch.set_num_threads(args.threads)
        report["versions"] = {
            p: version(p) for p in ("TotalSegmentator", "nnunetv2", "torch", "nibabel")
        }
        report["import_s"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        folder = build_checkpoint(
            home, args.patch, tuple(args.features), args.reader_writer, seed=0
        )
        size = (folder / "fold_0" / "checkpoint_final.pth").stat().st_size
        report["checkpoint"] = {
            "folder": str(folder),
            "bytes": size,
            "build_s": round(time.perf_counter() - start, 2),
        }
        archive = write_series(
            root / "series.zip", tuple(args.shape), tuple(args.spacing), args.orientation
        )
        report["series"] = {
            "shape": args.shape,
            "spacing_mm": args.spacing,
            "orientation": args.orientation,
        }
        os.environ["MEDASSIST_CONFIG_DIR"] = str(_config_dir(root, home, args.device))

        result, seconds = run_tool(archive, root / "session")
        report["tool"] = {
            "seconds": round(seconds, 2),
            "backend": result.backend,
            "method": result.method,
            "count": result.count,
            "total_volume_ml": result.total_volume_ml,
            "largest": [(s.name, s.volume_ml) for s in result.structures[:3]],
            "overlay_png": result.overlay_png,
            "labels_nifti": result.labels_nifti,
            "notes": result.notes,
        }
        problems = check_tool_result(result, archive, root / "session")
        report["package_grid"] = check_package_grid(archive, args.device)
        if not report["package_grid"]["same_shape"]:
            problems.append("the package's label image is not on the input grid (shape)")
        if report["package_grid"]["affine_max_abs_diff_mm"] > 1e-4:
            problems.append("the package's label image is not on the input grid (affine)")
    finally:
        if args.keep or args.home:
            report["kept"] = str(root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    report["network_attempts"] = NETWORK_EVENTS
    problems += [f"network: {e}" for e in NETWORK_EVENTS]
    report["problems"] = problems
    report["ok"] = not problems
    print(json.dumps(report, indent=2, default=str))
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
