"""Robust image I/O used by every command.

* :func:`read_image` reads JPEG/PNG/WebP/BMP/TIFF (anything Pillow opens), applies the EXIF
  orientation, converts CMYK, palette (with transparency), LA, 16-bit and grayscale to RGB, keeps
  the alpha channel aside and optionally keeps 16-bit precision. Every failure (missing, empty,
  truncated, corrupt, non-image, unsupported) raises :class:`hiface.errors.ImageReadError` with the
  path and the reason.
* :func:`write_image` writes atomically (temp file in the target folder + ``os.replace``), never
  replaces an existing file unless asked and never replaces one of the inputs.
* :func:`to_tensor` / :func:`from_tensor` convert between ``(H,W,3)`` arrays and ``(3,H,W)`` float
  tensors in ``[0, 1]`` (torch is imported lazily).
"""
from __future__ import annotations

import io as _io
import os
import struct
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ImageReadError, ImageWriteError, flag

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "IMAGE_EXTS", "ImageData", "is_image_path", "read_image", "write_image", "to_tensor",
    "from_tensor", "to_uint8", "apply_orientation", "format_for_path",
]

#: Extensions picked up when a folder or glob is expanded (lower case, with dot).
IMAGE_EXTS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")

_EXT_FORMAT = {
    ".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP",
    ".tif": "TIFF", ".tiff": "TIFF",
}
_ALPHA_FORMATS = {"PNG", "WEBP", "TIFF"}
_16BIT_FORMATS = {"PNG", "TIFF"}
_CV2_EXT = {"PNG": ".png", "TIFF": ".tiff"}


@dataclass
class ImageData:
    """A decoded image.

    pixels:   (H, W, 3) RGB, uint8 (uint16 when ``keep_16bit`` and the source is 16-bit).
    alpha:    (H, W) alpha of the same dtype as ``pixels``, or None when the source has none.
    was_gray: the source was grayscale (L, LA, 1-bit, 16-bit gray); pixels are replicated to RGB.
    bit_depth: bits per sample of the source (8 or 16).
    format:   Pillow's format name ("JPEG", "PNG", "WEBP", "BMP", "TIFF", ...).
    path:     where it was read from.
    icc:      the embedded ICC colour profile (bytes) or None; pass it on to :func:`write_image`.
    exif:     the EXIF block (bytes, orientation reset to 1 since the pixels are upright) or None.
    n_frames: frames in the file (animated GIF/WebP/APNG, multi-page TIFF); only the first is read.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None
    was_gray: bool
    bit_depth: int
    format: str
    path: Path
    icc: bytes | None = None
    exif: bytes | None = None
    n_frames: int = 1

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])


def is_image_path(p: str | os.PathLike) -> bool:
    """True when the file name has one of :data:`IMAGE_EXTS` (case-insensitive)."""
    return Path(p).suffix.lower() in IMAGE_EXTS


def format_for_path(p: str | os.PathLike) -> str:
    """Pillow format name for an output path, from its extension."""
    ext = Path(p).suffix.lower()
    if ext not in _EXT_FORMAT:
        raise ImageWriteError(p, f"unsupported output extension {ext!r} "
                                 f"(use one of {', '.join(IMAGE_EXTS)})")
    return _EXT_FORMAT[ext]


# ----------------------------------------------------------------------------------------------
# conversions

def to_uint8(a: np.ndarray) -> np.ndarray:
    """uint16 → uint8 by rounding ``x / 257`` (65535 → 255 exactly); uint8 passes through."""
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.uint16:
        return ((a.astype(np.uint32) + 128) // 257).astype(np.uint8)
    raise ValueError(f"expected uint8 or uint16 pixels, got {a.dtype}")


def _to_uint16(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint16:
        return a
    return a.astype(np.uint16) * 257


def apply_orientation(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation tag (1–8) to an (H, W[, C]) array, like ``ImageOps.exif_transpose``."""
    if orientation == 2:
        a = a[:, ::-1]
    elif orientation == 3:
        a = a[::-1, ::-1]
    elif orientation == 4:
        a = a[::-1]
    elif orientation == 5:  # transpose
        a = a.swapaxes(0, 1)
    elif orientation == 6:  # rotate 90° clockwise
        a = np.rot90(a, -1)
    elif orientation == 7:  # transverse
        a = a[::-1, ::-1].swapaxes(0, 1)
    elif orientation == 8:  # rotate 90° counter-clockwise
        a = np.rot90(a, 1)
    return np.ascontiguousarray(a)


# ----------------------------------------------------------------------------------------------
# reading

_READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, TypeError, KeyError,
    MemoryError, ZeroDivisionError,
)


def _source_bit_depth(img: Any, fmt: str) -> int:
    """Bits per sample of the file (Pillow silently reduces 16-bit RGB to 8-bit)."""
    if img.mode.startswith("I;16") or img.mode == "I":
        return 16
    if fmt == "PNG":
        try:  # IHDR: 8-byte signature, 4 length, 4 type, 4 width, 4 height, 1 bit depth
            with open(img.filename, "rb") as f:
                head = f.read(25)
            if len(head) == 25 and head[12:16] == b"IHDR":
                return 16 if head[24] == 16 else 8
        except (OSError, AttributeError, TypeError):
            pass
    if fmt == "TIFF":
        try:
            bps = img.tag_v2.get(258)
            if bps is not None:
                bps = bps if isinstance(bps, (tuple, list)) else (bps,)
                return 16 if max(int(b) for b in bps) == 16 else 8
        except (AttributeError, TypeError, ValueError):
            pass
    return 8


def _read_16bit_cv2(path: Path) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Decode a 16-bit colour PNG/TIFF with OpenCV (Pillow has no 16-bit RGB mode)."""
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8)
    a = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if a is None or a.dtype != np.uint16:
        raise ValueError("OpenCV could not decode the 16-bit image")
    alpha = None
    gray = False
    if a.ndim == 2:
        gray = True
        rgb = np.repeat(a[..., None], 3, axis=2)
    elif a.shape[2] == 1:
        gray = True
        rgb = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 2:
        gray = True
        rgb, alpha = np.repeat(a[..., :1], 3, axis=2), a[..., 1]
    elif a.shape[2] == 3:
        rgb = a[..., ::-1]
    else:
        rgb, alpha = a[..., 2::-1], a[..., 3]
    return rgb, alpha, gray


def _decode_pil(img: Any) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Pillow image (any mode) → (RGB pixels, alpha or None, was_gray); 16-bit gray stays uint16."""
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        a = np.asarray(img)
        a = np.clip(a.astype(np.int64), 0, 65535).astype(np.uint16)
        return np.repeat(a[..., None], 3, axis=2), None, True
    if mode == "F":
        raise ValueError("floating-point images (mode F) are not supported")
    if mode in ("1", "L"):
        a = np.asarray(img.convert("L"))
        return np.repeat(a[..., None], 3, axis=2), None, True
    if mode in ("LA", "La"):
        a = np.asarray(img.convert("LA"))
        return np.repeat(a[..., :1], 3, axis=2), np.ascontiguousarray(a[..., 1]), True
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in img.info
        if has_alpha:
            a = np.asarray(img.convert("RGBA"))
            return np.ascontiguousarray(a[..., :3]), np.ascontiguousarray(a[..., 3]), False
        return np.asarray(img.convert("RGB")), None, False
    if mode in ("RGBA", "RGBa"):
        a = np.asarray(img.convert("RGBA"))
        return np.ascontiguousarray(a[..., :3]), np.ascontiguousarray(a[..., 3]), False
    if mode == "RGB" and "transparency" in img.info:  # tRNS colour key
        a = np.asarray(img.convert("RGBA"))
        return np.ascontiguousarray(a[..., :3]), np.ascontiguousarray(a[..., 3]), False
    if mode in ("RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"):
        return np.asarray(img.convert("RGB")), None, False
    raise ValueError(f"unsupported pixel mode {mode!r}")


def image_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """(width, height) from the file header (EXIF rotation applied), or None when unreadable."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                w, h = img.size
                try:
                    if int(img.getexif().get(0x0112, 1) or 1) in (5, 6, 7, 8):
                        w, h = h, w
                except Exception:
                    pass
                return int(w), int(h)
    except Exception:
        return None


def read_image(path: str | os.PathLike, *, keep_16bit: bool = False,
               max_pixels: int | None = None) -> ImageData:
    """Read an image file as RGB.

    Applies the EXIF orientation; converts CMYK, palette (incl. transparency), LA, 16-bit and
    grayscale sources to RGB; puts alpha in ``ImageData.alpha``. Pixels are uint8 unless
    ``keep_16bit`` is set and the source has 16 bits per sample (then uint16; alpha too).

    ``max_pixels``: refuse larger images (checked from the header, before decoding). Pillow's
    ``DecompressionBombWarning`` is not shown (its hard limit, twice ``Image.MAX_IMAGE_PIXELS``,
    still applies and becomes an ImageReadError).

    Raises:
        ImageReadError: missing, a folder, empty, truncated, corrupt, not an image, unsupported,
            or too large.
    """
    import warnings

    p = Path(path)
    if not p.exists():
        raise ImageReadError(p, "file not found")
    if p.is_dir():
        raise ImageReadError(p, "is a folder, not an image file")
    try:
        empty = p.stat().st_size == 0
    except PermissionError:
        raise ImageReadError(p, "permission denied") from None
    except OSError as e:
        raise ImageReadError(p, e.strerror or str(e)) from None
    if empty:
        raise ImageReadError(p, "file is empty (0 bytes)")

    # Pillow's warnings (decompression bomb, corrupt EXIF, ...) are not for users: what matters
    # becomes an ImageReadError, the rest is ignored
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _read_image(p, keep_16bit, max_pixels)


def _read_image(p: Path, keep_16bit: bool, max_pixels: int | None) -> ImageData:
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(p)
        with img:
            fmt = img.format or (p.suffix.lstrip(".").upper() or "UNKNOWN")
            w0, h0 = img.size
            if max_pixels is not None and w0 * h0 > max_pixels:
                raise ImageReadError(p, f"image too large: {w0}x{h0} = {w0 * h0 / 1e6:.0f} MP, more than the "
                                        f"limit of {max_pixels / 1e6:.0f} MP")
            img.load()  # forces the full decode: truncated/corrupt data fails here
            orientation = 1
            try:
                orientation = int(img.getexif().get(0x0112, 1) or 1)
            except Exception:  # a broken EXIF block must not make a good image unreadable
                orientation = 1
            depth = _source_bit_depth(img, fmt)
            icc, exif_bytes = _metadata(img)
            n_frames = int(getattr(img, "n_frames", 1) or 1)
            if depth == 16 and img.mode not in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
                pixels, alpha, gray = _read_16bit_cv2(p)
            else:
                pixels, alpha, gray = _decode_pil(img)
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(p, "not an image, or an unrecognised/corrupt image format") from None
    except PermissionError:
        raise ImageReadError(p, "permission denied") from None
    except Image.DecompressionBombError as e:
        raise ImageReadError(p, f"image too large ({e})") from None
    except MemoryError:
        raise ImageReadError(p, "not enough memory to decode it") from None
    except _READ_ERRORS as e:
        msg = str(e) or type(e).__name__
        if "truncated" in msg.lower():
            reason = f"truncated file ({msg})"
        else:
            reason = f"corrupt or unsupported image data ({msg})"
        raise ImageReadError(p, reason) from None

    if pixels.dtype == np.uint16:
        if keep_16bit:
            if alpha is not None:
                alpha = _to_uint16(alpha)
        else:
            pixels = to_uint8(pixels)
            alpha = to_uint8(alpha) if alpha is not None else None
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise ImageReadError(p, f"unexpected decoded shape {pixels.shape}")
    pixels = apply_orientation(pixels, orientation)
    if alpha is not None:
        alpha = apply_orientation(alpha, orientation)
    return ImageData(pixels=pixels, alpha=alpha, was_gray=gray,
                     bit_depth=16 if depth == 16 else 8, format=fmt, path=p, icc=icc, exif=exif_bytes,
                     n_frames=n_frames)


def _metadata(img: Any) -> tuple[bytes | None, bytes | None]:
    """(ICC profile, EXIF with orientation 1) of an open Pillow image; a broken block is dropped."""
    icc = img.info.get("icc_profile") or None
    exif_bytes = None
    try:
        ex = img.getexif()
        if len(ex):
            if 0x0112 in ex:
                ex[0x0112] = 1  # the pixels are returned upright
            exif_bytes = ex.tobytes() or None
    except Exception:  # an unparsable EXIF block must not make a good image unreadable
        exif_bytes = None
    return (bytes(icc) if icc else None), exif_bytes


def _exif_for(exif: bytes, width: int, height: int) -> bytes:
    """EXIF for an output: orientation 1 and, when recorded, the new pixel dimensions."""
    from PIL import Image

    ex = Image.Exif()
    ex.load(exif)
    if 0x0112 in ex:
        ex[0x0112] = 1
    try:
        sub = ex.get_ifd(0x8769)  # Exif IFD: PixelXDimension / PixelYDimension
        if 0xA002 in sub:
            sub[0xA002] = int(width)
        if 0xA003 in sub:
            sub[0xA003] = int(height)
    except Exception:
        pass
    return ex.tobytes()


def _png_add_chunks(data: bytes, icc: bytes | None, exif: bytes | None) -> bytes:
    """Insert iCCP / eXIf chunks after IHDR of an encoded PNG (OpenCV writes neither)."""
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    extra = b""
    if icc:
        extra += chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(icc))
    if exif:
        extra += chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\0\0") else exif)
    end_ihdr = 8 + 4 + 4 + 13 + 4
    return data[:end_ihdr] + extra + data[end_ihdr:]


# ----------------------------------------------------------------------------------------------
# writing

def _check_target(p: Path, overwrite: bool, inputs: Iterable[str | os.PathLike]) -> None:
    if p.exists():
        for inp in inputs:
            try:
                if os.path.samefile(p, inp):
                    raise ImageWriteError(p, f"refusing to overwrite the input file {inp}")
            except OSError:
                continue
        if p.is_dir():
            raise ImageWriteError(p, "is a folder")
        if not overwrite:
            raise ImageWriteError(p, f"file already exists (use {flag('--overwrite', 'overwrite=True')} to replace it)")


def _encode(pixels: np.ndarray, alpha: np.ndarray | None, fmt: str, quality: int,
            icc: bytes | None = None, exif: bytes | None = None) -> bytes:
    """Encode to bytes in memory (so a failure leaves nothing behind)."""
    if exif:
        exif = _exif_for(exif, pixels.shape[1], pixels.shape[0])
    if pixels.dtype == np.uint16 and fmt in _16BIT_FORMATS:
        import cv2

        if alpha is not None:
            a = _to_uint16(alpha)
            if pixels.ndim == 2:
                pixels = np.repeat(pixels[..., None], 3, axis=2)
            arr = np.dstack([pixels[..., ::-1], a])
        else:
            arr = pixels if pixels.ndim == 2 else pixels[..., ::-1]
        ok, buf = cv2.imencode(_CV2_EXT[fmt], np.ascontiguousarray(arr))
        if not ok:
            raise ValueError("OpenCV failed to encode the 16-bit image")
        if fmt == "PNG" and (icc or exif):
            return _png_add_chunks(buf.tobytes(), icc, exif)
        return buf.tobytes()  # 16-bit TIFF: OpenCV cannot embed ICC/EXIF

    from PIL import Image

    pixels = to_uint8(pixels)
    if alpha is not None:
        alpha = to_uint8(alpha)
        if pixels.ndim == 2:
            pixels = np.repeat(pixels[..., None], 3, axis=2)
        img = Image.fromarray(np.dstack([pixels, alpha]), "RGBA")
    else:
        img = Image.fromarray(np.ascontiguousarray(pixels), "L" if pixels.ndim == 2 else "RGB")
    kw: dict[str, Any] = {}
    if fmt in ("JPEG", "WEBP"):
        kw["quality"] = int(quality)
    if fmt == "PNG":
        kw["compress_level"] = 6
    if fmt == "TIFF":
        kw["compression"] = "tiff_deflate"
    if icc and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        kw["icc_profile"] = icc
    if exif and fmt in ("JPEG", "PNG", "WEBP"):  # libtiff rejects Pillow's EXIF IFD offsets
        kw["exif"] = exif
    bio = _io.BytesIO()
    img.save(bio, format=fmt, **kw)
    return bio.getvalue()


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


@contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; on success it gets the usual
    umask-based permissions (mkstemp makes 0600 files) and replaces ``path`` atomically; on
    any error it is deleted, so a half-written file never appears under ``path``."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=suffix, dir=p.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, p)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: temp file in the same folder, fsync, ``os.replace``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


def write_image(path: str | os.PathLike, pixels: np.ndarray, alpha: np.ndarray | None = None, *,
                overwrite: bool = False, inputs: Iterable[str | os.PathLike] = (),
                quality: int = 95, icc: bytes | None = None, exif: bytes | None = None) -> Path:
    """Write an image atomically; the format follows the extension.

    Args:
        pixels: (H, W, 3) RGB or (H, W) gray, uint8 or uint16. uint16 is kept for PNG/TIFF and
            rounded to 8 bits for the other formats.
        alpha: (H, W) alpha, re-attached for PNG/WebP/TIFF (dropped for JPEG/BMP).
        overwrite: replace an existing file (never one of ``inputs``).
        inputs: the files this output was computed from; writing over one of them is refused.
        quality: JPEG/WebP quality.
        icc: ICC colour profile to embed (JPEG/PNG/WebP/TIFF; 16-bit: PNG only).
        exif: EXIF block to embed (JPEG/PNG/WebP); orientation is set to 1 and the recorded pixel
            dimensions to the written size.

    Raises:
        ImageWriteError: exists without ``overwrite``, is one of ``inputs``, bad extension, I/O error.
    """
    p = Path(path)
    fmt = format_for_path(p)
    pixels = np.asarray(pixels)
    if pixels.dtype not in (np.uint8, np.uint16):
        raise ImageWriteError(p, f"pixels must be uint8 or uint16, got {pixels.dtype}")
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)):
        raise ImageWriteError(p, f"pixels must have shape (H,W,3) or (H,W), got {pixels.shape}")
    if alpha is not None:
        alpha = np.asarray(alpha)
        if alpha.ndim == 3 and alpha.shape[2] == 1:
            alpha = alpha[..., 0]
        if alpha.shape != pixels.shape[:2]:
            raise ImageWriteError(p, f"alpha shape {alpha.shape} does not match pixels {pixels.shape[:2]}")
        if alpha.dtype not in (np.uint8, np.uint16):
            raise ImageWriteError(p, f"alpha must be uint8 or uint16, got {alpha.dtype}")
        if fmt not in _ALPHA_FORMATS:
            alpha = None
        elif alpha.dtype != pixels.dtype:
            alpha = _to_uint16(alpha) if pixels.dtype == np.uint16 else to_uint8(alpha)
    _check_target(p, overwrite, inputs)
    try:
        data = _encode(pixels, alpha, fmt, quality, icc, exif)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise ImageWriteError(p, f"encoding as {fmt} failed ({e})") from None
    try:
        return write_bytes_atomic(p, data)
    except OSError as e:
        raise ImageWriteError(p, e.strerror or str(e)) from None


# ----------------------------------------------------------------------------------------------
# tensors

def to_tensor(pixels: np.ndarray) -> "torch.Tensor":
    """(H, W, C) or (H, W) array → (C, H, W) float32 tensor in [0, 1].

    uint8 is divided by 255, uint16 by 65535; float arrays are taken as already in [0, 1].
    """
    import torch

    a = np.asarray(pixels)
    if a.dtype == np.uint8:
        f = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        f = a.astype(np.float32) / 65535.0
    elif np.issubdtype(a.dtype, np.floating):
        f = a.astype(np.float32)
    else:
        raise TypeError(f"to_tensor: unsupported dtype {a.dtype}")
    if f.ndim == 2:
        f = f[..., None]
    if f.ndim != 3:
        raise ValueError(f"to_tensor: expected (H,W,C) or (H,W), got shape {a.shape}")
    return torch.from_numpy(np.ascontiguousarray(f.transpose(2, 0, 1)))


def from_tensor(t: "torch.Tensor", dtype: Any = np.uint8) -> np.ndarray:
    """(C, H, W) (or (1, C, H, W)) tensor in [0, 1] → (H, W, C) array (``(H, W)`` when C == 1).

    Values are clipped to [0, 1], scaled to the dtype's range and rounded. NaN becomes 0.
    """
    import torch

    x = t.detach()
    if x.ndim == 4:
        if x.shape[0] != 1:
            raise ValueError(f"from_tensor: batch of {x.shape[0]} images; pass one image")
        x = x[0]
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"from_tensor: expected (C,H,W), got shape {tuple(t.shape)}")
    x = torch.nan_to_num(x.float().cpu(), nan=0.0).clamp(0.0, 1.0)
    dt = np.dtype(dtype)
    if dt == np.uint8:
        a = (x * 255.0).round().to(torch.uint8).numpy()
    elif dt == np.uint16:
        a = (x.double() * 65535.0).round().to(torch.int32).numpy().astype(np.uint16)
    elif np.issubdtype(dt, np.floating):
        a = x.numpy().astype(dt)
    else:
        raise TypeError(f"from_tensor: unsupported dtype {dt}")
    a = a.transpose(1, 2, 0)
    return np.ascontiguousarray(a[..., 0] if a.shape[2] == 1 else a)
