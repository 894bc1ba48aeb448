"""Photos and files of cases, through Django's storage API only.

The same code writes local files under ``GRIDGOV_DATA_DIR/media`` (the default) and objects in S3-compatible
storage (MinIO …) through django-storages (see ``STORAGES`` in settings and docs/deploy.md). Nothing here
builds a filesystem path.

Each upload is checked before anything is written:

- its real type, read from its first bytes, not from its name or the browser's word: JPEG, PNG or WebP photos,
  and PDF documents (kept as plain files: no thumbnail, never shown to the public). HEIC/HEIF photos are refused
  with a message saying how to send JPEG instead;
- its size (``CASE_UPLOAD_MAX_MB``), its pixel count (``CASE_UPLOAD_MAX_MEGAPIXELS``, checked from the header
  before decoding: a decompression bomb never reaches memory) and that it decodes completely;
- how many files one step of a case already has (``CASE_UPLOAD_MAX_FILES``: the files filed with the report,
  or with one later action).

A photo's own EXIF GPS position (degrees/minutes/seconds to decimal WGS-84) and time (DateTimeOriginal, read
as Asia/Shanghai unless the photo records its own offset) are kept on the attachment. Three files are written:
the original as uploaded (for staff: evidence, with its metadata), a ``public_file`` copy re-encoded from the
pixels with no EXIF, GPS or XMP (at most 2048 pixels on its long side) for anything shown to the public, and a
320-pixel JPEG ``thumbnail``.

A refused upload raises ``ApplicationError(INVALID_ATTACHMENT)`` (field ``files``). The caller's transaction must
then roll back (``services.case_create`` and ``services.case_act`` do: the whole case or action is refused); the
files this call wrote are deleted, and so are the files of earlier attachments of the same case whose rows were
not committed yet. ``discard_on_error`` also deletes, for a whole block, every file whose row did not survive (an
error after the uploads, or a retried submission that returned the case already filed).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import math
import os
import re
import unicodedata
import uuid
import zoneinfo
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from gridgov.cases.errors import CaseErrorCode
from gridgov.cases.models import Case, CaseAction, CaseAttachment
from gridgov.core.errors import ApplicationError

PUBLIC_MAX_SIDE = 2048
THUMBNAIL_SIDE = 320
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Kind:
    key: str
    content_type: str
    extension: str
    pil_format: str | None  # None: not an image

    @property
    def is_image(self) -> bool:
        return self.pil_format is not None


JPEG = Kind("jpeg", "image/jpeg", "jpg", "JPEG")
PNG = Kind("png", "image/png", "png", "PNG")
WEBP = Kind("webp", "image/webp", "webp", "WEBP")
PDF = Kind("pdf", "application/pdf", "pdf", None)
IMAGE_KINDS = (JPEG, PNG, WEBP)

# ISO-BMFF brands of HEIF/HEIC/AVIF stills (iPhones and many Android phones take HEIC photos).
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1",
                b"avif", b"avis"}


class HeicNotSupported(Exception):
    pass


def sniff(head: bytes) -> Kind | None:
    """The real type of a file from its first bytes (at least 12). Raises ``HeicNotSupported`` for HEIC."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"%PDF-"):
        return PDF
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        raise HeicNotSupported
    return None


def _invalid(message: str) -> ApplicationError:
    return ApplicationError(CaseErrorCode.INVALID_ATTACHMENT, message, fields={"files": [message]})


def heic_message() -> str:
    return _("HEIC/HEIF photos are not supported. Send the photo as JPEG: on an iPhone choose Settings → Camera → "
             "Formats → Most Compatible, or share the photo instead of the original file.")


def max_bytes() -> int:
    return settings.CASE_UPLOAD_MAX_MB * 1024 * 1024


def check_upload(upload, *, images_only: bool = False) -> Kind:
    """A quick check of type and size without decoding, for a form to answer before anything is filed.

    ``attachment_create`` checks everything again (and decodes); this only gives the early, clear message."""
    label = _display_name(upload)
    size = getattr(upload, "size", None)
    if size is not None and size > max_bytes():
        raise _too_large(label)
    with _rewound(upload):
        head = upload.read(32)
    if not head:
        raise _invalid(_("%(name)s is empty.") % {"name": label})
    try:
        kind = sniff(head)
    except HeicNotSupported:
        raise _invalid(f"{label}: {heic_message()}") from None
    if kind is None or (images_only and not kind.is_image):
        raise _invalid(_("%(name)s is not a JPEG, PNG or WebP photo.") % {"name": label} if images_only else
                       _("%(name)s is not a JPEG, PNG or WebP photo or a PDF document.") % {"name": label})
    return kind


def _too_large(label: str) -> ApplicationError:
    return _invalid(_("%(name)s is larger than %(mb)s MB.") % {"name": label, "mb": settings.CASE_UPLOAD_MAX_MB})


@contextlib.contextmanager
def _rewound(upload):
    if hasattr(upload, "seek"):
        upload.seek(0)
    try:
        yield
    finally:
        if hasattr(upload, "seek"):
            upload.seek(0)


def _display_name(upload) -> str:
    name = os.path.basename(str(getattr(upload, "name", "") or "")).strip()
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if ch.isprintable() and ch not in "\\/")
    return name[:200] or _("the file")


# --- metadata ------------------------------------------------------------------------------------


def _ratio(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) else None


def _degrees(value, ref) -> float | None:
    """EXIF degrees, minutes, seconds (rationals) and a hemisphere reference to signed decimal degrees."""
    if value is None:
        return None
    parts = list(value) if isinstance(value, tuple | list) else [value]
    numbers = [_ratio(p) for p in parts[:3]]
    if not numbers or any(n is None or n < 0 for n in numbers):
        return None
    degrees = sum(n / 60**i for i, n in enumerate(numbers))
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "ignore")
    ref = str(ref or "").strip("\x00 ").upper()
    if ref in ("S", "W"):
        degrees = -degrees
    return degrees


def exif_location(exif: Image.Exif) -> tuple[float, float] | None:
    """(lng, lat) in decimal WGS-84 from a photo's GPS IFD (a phone's GNSS fix is WGS-84), or None."""
    try:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    except (KeyError, ValueError, TypeError, OSError, SyntaxError):
        return None
    if not gps:
        return None
    lat = _degrees(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef))
    lng = _degrees(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef))
    if lat is None or lng is None or not (-90 <= lat <= 90 and -180 <= lng <= 180):
        return None
    if abs(lat) < 1e-9 and abs(lng) < 1e-9:  # 0, 0: a camera without a fix
        return None
    return round(lng, 7), round(lat, 7)


_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")


def exif_taken_at(exif: Image.Exif) -> dt.datetime | None:
    """When the photo was taken: DateTimeOriginal (else the file's DateTime), as Asia/Shanghai time unless the
    photo records its own offset (OffsetTimeOriginal). None when absent, unreadable or implausible."""
    try:
        sub = exif.get_ifd(ExifTags.IFD.Exif)
    except (KeyError, ValueError, TypeError, OSError, SyntaxError):
        sub = {}
    raw = sub.get(ExifTags.Base.DateTimeOriginal) or exif.get(ExifTags.Base.DateTime)
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "ignore")
    if not isinstance(raw, str):
        return None
    try:
        naive = dt.datetime.strptime(raw.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    tz: dt.tzinfo = SHANGHAI
    offset = sub.get(ExifTags.Base.OffsetTimeOriginal)
    if isinstance(offset, bytes):
        offset = offset.decode("ascii", "ignore")
    match = _OFFSET.match(str(offset or "").strip("\x00 "))
    if match:
        sign = -1 if match.group(1) == "-" else 1
        minutes = int(match.group(2)) * 60 + int(match.group(3))
        if minutes <= 14 * 60:
            tz = dt.timezone(sign * dt.timedelta(minutes=minutes))
    taken = naive.replace(tzinfo=tz)
    if taken.year < 1990 or taken > timezone.now() + dt.timedelta(days=1):
        return None
    return taken


def read_location(upload) -> tuple[float, float] | None:
    """The GPS position recorded in a photo upload, or None (also for anything that is not a readable photo).
    Leaves the upload rewound."""
    with _rewound(upload):
        data = upload.read(max_bytes() + 1)
    if len(data) > max_bytes():
        return None
    try:
        kind = sniff(data[:32])
        if kind is None or not kind.is_image:
            return None
        with Image.open(io.BytesIO(data), formats=[kind.pil_format]) as image:
            return exif_location(image.getexif())
    except (HeicNotSupported, UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError,
            ValueError, EOFError):
        return None


# --- decoding and copies -------------------------------------------------------------------------


@dataclass
class _Photo:
    public: bytes
    public_ext: str
    thumbnail: bytes
    lng: float | None
    lat: float | None
    taken_at: dt.datetime | None


def _flatten(image: Image.Image) -> Image.Image:
    """RGB on white for JPEG (transparent PNG/WebP, palettes, CMYK, 16-bit greys)."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode.startswith("I"):  # 16-bit greys
        image = image.convert("I").point(lambda v: v / 256).convert("L")
    return image.convert("RGB")


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def _encode_jpeg(image: Image.Image, quality: int, icc: bytes | None) -> bytes:
    out = io.BytesIO()
    extra = {"icc_profile": icc} if icc else {}
    _flatten(image).save(out, "JPEG", quality=quality, optimize=True, **extra)
    return out.getvalue()


def _process_image(data: bytes, kind: Kind, label: str) -> _Photo:
    max_pixels = settings.CASE_UPLOAD_MAX_MEGAPIXELS * 1_000_000
    broken = _("%(name)s is not a complete, readable %(type)s photo.") % {"name": label, "type": kind.pil_format}
    try:
        with Image.open(io.BytesIO(data), formats=[kind.pil_format]) as probe:
            width, height = probe.size
            if width < 1 or height < 1 or width * height > max_pixels:
                raise _invalid(_("%(name)s has too many pixels (%(w)s × %(h)s; at most %(mp)s megapixels).")
                               % {"name": label, "w": width, "h": height, "mp": settings.CASE_UPLOAD_MAX_MEGAPIXELS})
            probe.verify()
        with Image.open(io.BytesIO(data), formats=[kind.pil_format]) as image:
            exif = image.getexif()
            location = exif_location(exif)
            taken_at = exif_taken_at(exif)
            icc = image.info.get("icc_profile")
            if kind is JPEG:
                image.draft("RGB", (PUBLIC_MAX_SIDE, PUBLIC_MAX_SIDE))  # decode large JPEGs at a reduced scale
            image.load()
            upright = ImageOps.exif_transpose(image)
    except ApplicationError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError, EOFError,
            TypeError, IndexError, KeyError) as exc:
        raise _invalid(broken) from exc
    # Copies are made from the pixels alone: no EXIF, GPS, XMP, comments or text chunks come along.
    upright.info = {}
    public = upright.copy()
    public.thumbnail((PUBLIC_MAX_SIDE, PUBLIC_MAX_SIDE), Image.Resampling.LANCZOS)
    if _has_alpha(public):
        out = io.BytesIO()
        public.save(out, "PNG", optimize=True)
        public_bytes, public_ext = out.getvalue(), "png"
    else:
        public_bytes, public_ext = _encode_jpeg(public, 85, icc), "jpg"
    thumb = upright.copy()
    thumb.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    lng, lat = location if location else (None, None)
    return _Photo(public_bytes, public_ext, _encode_jpeg(thumb, 80, icc), lng, lat, taken_at)


def _check_pdf(data: bytes, label: str) -> None:
    if b"%%EOF" not in data[-2048:]:
        raise _invalid(_("%(name)s is not a complete PDF document.") % {"name": label})


# --- files not yet committed ---------------------------------------------------------------------

_block_pending: ContextVar[list[list[str]] | None] = ContextVar("gridgov_attachment_pending", default=None)


def _delete_files(names) -> None:
    for name in names:
        if name:
            with contextlib.suppress(Exception):  # a file already gone, or storage unreachable: nothing to undo
                default_storage.delete(name)


def _track(case: Case, names: list[str]) -> None:
    """Remember files whose row is not committed yet; once the transaction commits they are no longer pending
    (a rolled-back transaction never runs the callback, so its files stay pending and get deleted)."""
    lists = [case.__dict__.setdefault("_gridgov_pending_files", [])]
    block = _block_pending.get()
    if block is not None:
        lists.append(block)
    for pending in lists:
        pending.append(names)

    def committed():
        for pending in lists:
            with contextlib.suppress(ValueError):
                pending.remove(names)

    transaction.on_commit(committed)


def _discard_pending(case: Case) -> None:
    pending = case.__dict__.get("_gridgov_pending_files") or []
    block = _block_pending.get()
    while pending:
        names = pending.pop()
        _delete_files(names)
        if block is not None:
            with contextlib.suppress(ValueError):
                block.remove(names)


@contextlib.contextmanager
def discard_on_error():
    """Around a call that files attachments (``services.case_create``): when the block raises, every file
    written inside it is deleted; when it returns outside a transaction, files whose rows were rolled back
    (a retried submission answered with the case already filed) are deleted as well."""
    pending: list[list[str]] = []
    token = _block_pending.set(pending)
    try:
        yield
    except BaseException:
        for names in list(pending):
            _delete_files(names)
        raise
    else:
        if not connection.in_atomic_block:
            for names in list(pending):
                _delete_files(names)
    finally:
        _block_pending.reset(token)


# --- the service ---------------------------------------------------------------------------------


def attachment_create(*, case: Case, upload, action: CaseAction | None = None) -> CaseAttachment:
    """Check one uploaded file, write it (and for a photo its public copy and thumbnail) through the storage
    API and save its row. Raises ``ApplicationError(INVALID_ATTACHMENT)`` for a file that is refused."""
    label = _display_name(upload)
    try:
        limit = settings.CASE_UPLOAD_MAX_FILES
        if CaseAttachment.objects.filter(case=case, action=action).count() >= limit:
            raise _invalid(_("At most %(count)s files can be attached at a time.") % {"count": limit})
        kind = check_upload(upload)
        with _rewound(upload):
            data = upload.read(max_bytes() + 1)
        if len(data) > max_bytes():
            raise _too_large(label)
        photo = _process_image(data, kind, label) if kind.is_image else None
        if photo is None:
            _check_pdf(data, label)
    except ApplicationError:
        _discard_pending(case)
        raise

    stem = uuid.uuid4().hex
    attachment = CaseAttachment(
        case=case,
        action=action,
        name=label,
        content_type=kind.content_type,
        size=len(data),
        taken_at=photo.taken_at if photo else None,
        lng=photo.lng if photo else None,
        lat=photo.lat if photo else None,
    )
    written: list[str] = []
    try:
        attachment.file.save(f"{stem}.{kind.extension}", ContentFile(data), save=False)
        written.append(attachment.file.name)
        if photo is not None:
            attachment.public_file.save(f"{stem}-public.{photo.public_ext}", ContentFile(photo.public), save=False)
            written.append(attachment.public_file.name)
            attachment.thumbnail.save(f"{stem}-thumb.jpg", ContentFile(photo.thumbnail), save=False)
            written.append(attachment.thumbnail.name)
        attachment.save()
    except BaseException:
        _delete_files(written)
        _discard_pending(case)
        raise
    _track(case, written)
    return attachment


def public_content_type(name: str) -> str:
    """The type of a public copy or thumbnail, from the extension this module gave it."""
    return "image/png" if name.lower().endswith(".png") else "image/jpeg"
