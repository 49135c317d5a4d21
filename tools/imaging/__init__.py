"""Image ingestion: every image the agent, the tools and the UI use passes through here.

Modules (public API in brackets):

- `uploads`: refuse files before they are stored [check_upload, store_upload, copy_upload]
- `loader`: decode one frame of DICOM/PNG/JPEG/TIFF/BMP/GIF [load_image, load_frames]
- `render`: 8-bit PNG for the model and the UI [render_png, display_array, encode_png]
- `windowing`: window/level presets and MedGemma's CT RGB [WindowPreset, Window, ct_rgb]
- `deid`: PS3.15 basic-profile de-identification [deidentify, safe_display_name, context_key]
- `series`: series grouping and slice order, DICOMDIR [group_series, read_dicomdir]
- `cine`: animated PNG of multi-frame images [render_cine]
- `describe`, `view`: the `describe_image` and `view_dicom` tools
- internals: `dicom` (robust reading), `dicom_meta` (per-frame header facts), `raster`,
  `image` (LoadedImage), `limits` (decode time limit, warning capture)

Raw DICOM headers never leave this package unless a local caller asks for them with
``load_image(..., keep_raw_header=True)``; everything else sees de-identified summaries.
"""
