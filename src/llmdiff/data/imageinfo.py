"""Reading what the manifest records about an image file: size, content hash, and whether it decodes."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image

# Suffixes the data commands treat as images, and the webdataset extension each is stored under.
IMAGE_SUFFIXES = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".webp": "webp", ".bmp": "bmp", ".gif": "gif",
                  ".tif": "tiff", ".tiff": "tiff"}
WEBDATASET_IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "webp")


@dataclass(frozen=True)
class ImageInfo:
    width: int | None
    height: int | None
    sha256: str | None
    problem: str | None = None  # "missing", "unreadable" or "truncated"
    detail: str = ""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def probe_image(path: str, decode: bool = False) -> ImageInfo:
    """Hash the file and read its size; with `decode`, also decode every pixel to catch truncation.

    Never raises for a bad image: the problem is reported in the result, for the caller to count.
    """
    try:
        with open(path, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        return ImageInfo(None, None, None, "missing", "file not found")
    except OSError as error:
        return ImageInfo(None, None, None, "unreadable", str(error))
    return probe_image_bytes(data, decode)


def probe_image_bytes(data: bytes, decode: bool = False) -> ImageInfo:
    digest = sha256_bytes(data)
    try:
        with warnings.catch_warnings():
            # A huge image is reported as a problem below, not as a warning on stderr.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if decode:
                    image.load()
    except Image.UnidentifiedImageError:
        return ImageInfo(None, None, digest, "unreadable", "not a recognised image format")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        detail = " ".join(str(error).split()) or type(error).__name__
        problem = "truncated" if "truncated" in detail.lower() else "unreadable"
        return ImageInfo(None, None, digest, problem, detail)
    return ImageInfo(width, height, digest)
