"""Validation of an uploaded reference image (image-to-video): type by content, size, pixel count.

Nothing about the upload is trusted: the type comes from the first bytes, not the name or the declared
content type; the pixel count is checked from the header before decoding, and Pillow's own
decompression-bomb guard (`Image.MAX_IMAGE_PIXELS`, its warning turned into an error) backs that up.
"""

from __future__ import annotations

import io
import warnings

import numpy as np

SIGNATURES = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG"}


class UploadError(ValueError):
    """A rejected upload; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def sniff(data: bytes) -> str | None:
    """'PNG' or 'JPEG' from the leading bytes, or None."""
    return next((kind for magic, kind in SIGNATURES.items() if data.startswith(magic)), None)


def load_reference_image(data: bytes, max_bytes: int, max_pixels: int) -> np.ndarray:
    """Decode an uploaded PNG/JPEG into uint8 [H, W, 3], or raise UploadError (413 / 415 / 400)."""
    from PIL import Image

    if len(data) > max_bytes:
        raise UploadError(413, f"input_reference: {len(data)} bytes is over the limit of {max_bytes}")
    kind = sniff(data)
    if kind is None:
        raise UploadError(415, "input_reference: must be a PNG or JPEG image (checked by content)")
    Image.MAX_IMAGE_PIXELS = max_pixels  # also bounds anything else in this process that decodes images
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[kind]) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise UploadError(
                        413, f"input_reference: {width}x{height} is over the limit of {max_pixels} pixels"
                    )
                img.load()
                rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except UploadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UploadError(413, f"input_reference: refused as a decompression bomb ({e})") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:  # what Pillow raises on corrupt data
        raise UploadError(400, f"input_reference: not a readable {kind} image ({type(e).__name__})") from e
    if min(rgb.shape[:2]) < 1:
        raise UploadError(400, "input_reference: the image is empty")
    return rgb
