"""Image processing with Pillow: information, thumbnails and aspect-preserving resizes.

Operations (the `process_image` task): ``get_info``, ``create_thumbnail``, ``resize``. Pixels are
turned upright from the EXIF Orientation tag first (`ImageOps.exif_transpose`). Output format: PNG
when the image has transparency (alpha channel, or a palette/`transparency` entry), JPEG otherwise;
CMYK and other modes are converted to RGB for JPEG. Decompression bombs are refused before any pixel
is decoded: width × height over `max_pixels` (IMAGE_MAX_PIXELS; Pillow's own default is
89,478,485 = 0.25 GiB of 24-bit pixels, `PIL.Image.MAX_IMAGE_PIXELS`). Truncated files are
reported, never half-decoded (`ImageFile.LOAD_TRUNCATED_IMAGES` stays False).
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from app.errors import CorruptFile, FileTooLarge, InvalidInput, UnsupportedFile
from app.documents import intake

OPERATIONS = ("get_info", "create_thumbnail", "resize")
JPEG_QUALITY = 88
MAX_RESIZE_PX = 10_000


def open_image(path: Path, max_pixels: int) -> Image.Image:
    """Open (lazily) and check the size before decoding.

    Raises:
        FileTooLarge: more than `max_pixels` pixels (a decompression bomb).
        UnsupportedFile / CorruptFile: Pillow cannot identify or read the header.
    """
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise FileTooLarge(f"The image is too large to decode safely ({exc}); the limit is "
                           f"{max_pixels:,} pixels (IMAGE_MAX_PIXELS).") from exc
    except UnidentifiedImageError as exc:
        raise UnsupportedFile("Pillow cannot identify this image format.") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptFile(f"The image header is damaged ({exc}).") from exc
    w, h = img.size
    if w * h > max_pixels:
        img.close()
        raise FileTooLarge(f"The image is {w:,}×{h:,} = {w * h:,} pixels; the limit is {max_pixels:,} "
                           "(IMAGE_MAX_PIXELS). Refused as a possible decompression bomb.")
    return img


def _load(img: Image.Image) -> Image.Image:
    try:
        img.load()
        return ImageOps.exif_transpose(img)
    except OSError as exc:
        msg = str(exc)
        if "truncated" in msg:
            raise CorruptFile(f"The image file is truncated ({msg}); upload the complete file.") from exc
        raise CorruptFile(f"The image data is damaged ({msg}).") from exc
    except (SyntaxError, ValueError, EOFError) as exc:
        raise CorruptFile(f"The image data is damaged ({exc}).") from exc


def _orientation(img: Image.Image) -> int | None:
    try:
        return img.getexif().get(ExifTags.Base.Orientation)
    except Exception:  # noqa: BLE001 - a broken EXIF block just means "no orientation"
        return None


def has_transparency(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA") or (img.mode in ("P", "L", "RGB") and "transparency" in img.info)


def get_info(img: Image.Image, path: Path) -> dict[str, Any]:
    """Format, stored size, mode, EXIF orientation and the upright (displayed) size."""
    orientation = _orientation(img)
    w, h = img.size
    upright = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    dpi = img.info.get("dpi")
    return {"format": img.format, "width": w, "height": h, "mode": img.mode,
            "exif_orientation": orientation, "upright_width": upright[0], "upright_height": upright[1],
            "frames": getattr(img, "n_frames", 1), "has_transparency": has_transparency(img),
            "dpi": [float(d) for d in dpi] if dpi else None, "icc_profile": bool(img.info.get("icc_profile")),
            "file_size_bytes": Path(path).stat().st_size}


def _save(img: Image.Image, target_stem: Path) -> str:
    if has_transparency(img):
        out = img.convert("RGBA") if img.mode != "RGBA" else img
        path = target_stem.with_suffix(".png")
        out.save(path, format="PNG", optimize=True)
    else:
        out = img if img.mode in ("RGB", "L") else img.convert("RGB")
        path = target_stem.with_suffix(".jpg")
        out.save(path, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return str(path)


def create_thumbnail(upright: Image.Image, out_dir: Path, max_px: int) -> str:
    """A thumbnail fitting in max_px × max_px (never enlarged), as ``thumbnail.png|jpg``."""
    thumb = upright.copy()
    thumb.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
    return _save(thumb, Path(out_dir) / "thumbnail")


def resize(upright: Image.Image, out_dir: Path, size: tuple[int, int]) -> str:
    """The upright image scaled to fit in `size` (width, height), aspect ratio kept, as
    ``resized.png|jpg``."""
    return _save(ImageOps.contain(upright, size, Image.Resampling.LANCZOS), Path(out_dir) / "resized")


def _size_of(path: str) -> list[int]:
    with Image.open(path) as out:
        return list(out.size)


def _check_size(size) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError) as exc:
        raise InvalidInput("resize needs a size [width, height] in pixels.") from exc
    if not (1 <= w <= MAX_RESIZE_PX and 1 <= h <= MAX_RESIZE_PX):
        raise InvalidInput(f"The resize size must be 1–{MAX_RESIZE_PX} pixels each way (got {w}×{h}).")
    return w, h


def process(path: Path, operations: list[str], out_dir: Path,
            on_step: Callable[[int, int, str], None] | None = None, *, max_pixels: int = 89_478_485,
            thumbnail_px: int = 256, size: list[int] | tuple[int, int] | None = None) -> dict[str, Any]:
    """Run `operations` on the image at `path` (already checked by `intake.require_kind`).

    Returns (keys for the operations run): ``info`` (get_info), ``thumbnail`` (path),
    ``resized`` (path) and ``output_sizes`` ({'thumbnail': [w, h], 'resized': [w, h]}).

    Raises:
        InvalidInput: unknown operations, or resize without a valid `size`.
        FileTooLarge: over `max_pixels`. CorruptFile: truncated or damaged pixel data.
    """
    ops = intake.check_operations(operations, OPERATIONS)
    target = _check_size(size) if "resize" in ops else None
    step = on_step or (lambda *_: None)
    total = len(ops) + 1
    step(0, total, "opening image")
    outputs: dict[str, Any] = {}
    with open_image(path, max_pixels) as img:
        if "get_info" in ops:
            outputs["info"] = get_info(img, path)
        upright = _load(img)  # always decode: a truncated file is reported even for get_info
        sizes = {}
        for n, op in enumerate(ops, start=1):
            step(n, total, op)
            if op == "create_thumbnail":
                outputs["thumbnail"] = create_thumbnail(upright, out_dir, thumbnail_px)
                sizes["thumbnail"] = _size_of(outputs["thumbnail"])
            elif op == "resize":
                outputs["resized"] = resize(upright, out_dir, target)
                sizes["resized"] = _size_of(outputs["resized"])
        if sizes:
            outputs["output_sizes"] = sizes
    step(total, total, "done")
    return outputs
