"""TotalSegmentator (117 CT structures, nnU-Net v2) as a `VolumeSegmenter`, loaded lazily.

The package is optional (``pip install -e '.[ct]'``) and its weights are never
downloaded: ``totalsegmentator.home`` in ``configs/segmentation.yaml`` is the
TOTALSEG_HOME_DIR whose ``nnunet/results`` must already hold the task folders
(``Dataset297_...`` for the fast 3 mm model, ``Dataset291_...`` to ``Dataset295_...``
for the 1.5 mm models), each with its nnU-Net model folder. They are checked before the
package is even imported (a missing folder would make the package download it), and
TotalSegmentator's anonymous usage statistics are switched off in its config file.
Calls are serialised: the package swaps ``sys.stdout`` and torch's thread count for the
whole process while it runs. On CPU the fast model takes minutes per CT; use
``device: gpu`` on a CUDA machine. ``benchmarks/check_totalsegmentator.py`` runs this
backend against the real package with a random tiny checkpoint in this layout.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from tools.errors import ToolError
from tools.imaging.volume import Volume
from tools.segmentation.config import TotalSegSettings
from tools.segmentation.volumetric import VolumeSegmentation, labels_from_nifti, to_nifti

INSTALL_ADVICE = (
    "TotalSegmentator is not installed: install the CT extra with "
    "`pip install -e '.[ct]'` (or `pip install TotalSegmentator`) in medassist's environment."
)
FAST_TASKS = ("Dataset297_TotalSegmentator_total_3mm_1559subj",)
FULL_TASKS = (
    "Dataset291_TotalSegmentator_part1_organs_1559subj",
    "Dataset292_TotalSegmentator_part2_vertebrae_1532subj",
    "Dataset293_TotalSegmentator_part3_cardiac_1559subj",
    "Dataset294_TotalSegmentator_part4_muscles_1559subj",
    "Dataset295_TotalSegmentator_part5_ribs_1559subj",
)
"""Weight folders of the ``total`` task (TotalSegmentator 2.x), fast and full resolution."""
FAST_TRAINER = "nnUNetTrainer_4000epochs_NoMirroring"
FULL_TRAINER = "nnUNetTrainerNoMirroring"
MODEL_FILES = ("dataset.json", "plans.json", "fold_0/checkpoint_final.pth")
"""What nnU-Net v2 reads from a model folder (TotalSegmentator uses fold 0 only)."""
_RUNNING = threading.Lock()


def weights_dir(home: Path) -> Path:
    """Where TotalSegmentator reads its weights under its home folder."""
    return home / "nnunet" / "results"


def model_dir(home: Path, task: str, fast: bool) -> Path:
    """The nnU-Net model folder of `task`: ``<trainer>__<plans>__<configuration>``."""
    trainer = FAST_TRAINER if fast else FULL_TRAINER
    return weights_dir(home) / task / f"{trainer}__nnUNetPlans__3d_fullres"


def missing_weights(home: Path, fast: bool) -> list[str]:
    """Task folders, or files inside them, that are missing (relative to the weights dir)."""
    missing = []
    for task in FAST_TASKS if fast else FULL_TASKS:
        if not (weights_dir(home) / task).is_dir():
            missing.append(task)
            continue
        folder = model_dir(home, task, fast)
        missing += [
            str((folder / f).relative_to(weights_dir(home)))
            for f in MODEL_FILES
            if not (folder / f).is_file()
        ]
    return missing


def check_weights(settings: TotalSegSettings) -> Path:
    """Return the home folder, or ToolError saying what is missing and where it must go."""
    if settings.home is None:
        raise ToolError(
            "the totalsegmentator backend is not configured: set totalsegmentator.home in "
            "configs/segmentation.yaml to a folder whose nnunet/results holds the weights."
        )
    missing = missing_weights(settings.home, settings.fast)
    if missing:
        raise ToolError(
            f"TotalSegmentator weights are missing in {weights_dir(settings.home)}: "
            f"{', '.join(missing)}. Copy them there from a machine that has them; medassist "
            "never downloads weights."
        )
    return settings.home


def _import_api() -> Any:
    try:
        from totalsegmentator import python_api
    except ImportError as exc:
        raise ToolError(INSTALL_ADVICE) from exc
    return python_api


class TotalSegmentatorSegmenter:
    """TotalSegmentator's ``total`` task through its Python API, on one CT volume."""

    name = "totalsegmentator"

    def __init__(self, settings: TotalSegSettings) -> None:
        home = check_weights(settings)
        self.settings = settings
        os.environ["TOTALSEG_HOME_DIR"] = str(home)  # read by the package at call time
        os.environ.pop("TOTALSEG_WEIGHTS_PATH", None)
        self._api = _import_api()
        from totalsegmentator.config import set_config_key, setup_totalseg

        setup_totalseg()
        set_config_key("send_usage_stats", False)  # no network calls from a clinic's machine
        set_config_key("statistics_disclaimer_shown", True)  # else printed on each first run

    def segment_volume(self, volume: Volume) -> VolumeSegmentation:
        """Run the ``total`` task and return its labels on the series' own grid."""
        from totalsegmentator.map_to_binary import class_map

        if volume.units != "HU":
            raise ToolError("TotalSegmentator needs a CT series in Hounsfield units")
        image = to_nifti(volume)
        with _RUNNING:
            result = self._api.totalsegmentator(
                image,
                None,
                ml=True,
                fast=self.settings.fast,
                device=self.settings.device,
                quiet=True,
                task="total",
                nr_thr_resamp=1,
                nr_thr_saving=1,  # each is a spawned process re-importing the main module
            )
        labels = labels_from_nifti(result, volume.values.shape, affine=image.affine)
        names = {int(k): str(v).replace("_", " ") for k, v in class_map["total"].items()}
        resolution = "3 mm (fast)" if self.settings.fast else "1.5 mm"
        method = f"TotalSegmentator total task, {resolution} model"
        return VolumeSegmentation(labels, names, method)
