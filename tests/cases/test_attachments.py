"""Photos and files of cases: real type by content, limits, EXIF position and time, the public copy without
metadata, the thumbnail, and a refused upload that leaves neither a case nor a file behind."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import ExifTags, Image, TiffImagePlugin

from gridgov.cases import attachments, services
from gridgov.cases.errors import CaseErrorCode
from gridgov.cases.models import Case, CaseAttachment, Channel
from gridgov.core.errors import ApplicationError

pytestmark = pytest.mark.django_db

R = TiffImagePlugin.IFDRational


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    """Each test writes its files to its own directory through the storage API."""
    root = tmp_path / "media"
    settings.MEDIA_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    return root


def stored_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def jpeg_with_exif(*, size=(1600, 1200), lat=(33, 30, 18), lng=(110, 48, 30), lat_ref="N", lng_ref="E",
                   taken="2025:05:01 09:30:00", offset: str | None = None, orientation: int | None = None) -> bytes:
    image = Image.new("RGB", size, (180, 90, 40))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestCam"
    if orientation:
        exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    if lat is not None:
        gps[ExifTags.GPS.GPSLatitudeRef] = lat_ref
        gps[ExifTags.GPS.GPSLatitude] = tuple(R(v) for v in lat)
        gps[ExifTags.GPS.GPSLongitudeRef] = lng_ref
        gps[ExifTags.GPS.GPSLongitude] = (R(lng[0]), R(lng[1]), R(int(lng[2] * 100), 100))
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    if taken:
        sub[ExifTags.Base.DateTimeOriginal] = taken
    if offset:
        sub[ExifTags.Base.OffsetTimeOriginal] = offset
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">secret-place</x:xmpmeta>',
               comment=b"shot at home")
    return out.getvalue()


def upload(data: bytes, name="photo.jpg", content_type="image/jpeg"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def file_case(*uploads, **kwargs) -> Case:
    return services.case_create(actor=None, channel=Channel.SELF_REPORT, description="路灯坏了", uploads=uploads,
                                reporter_phone="13800001234", **kwargs)


def test_photo_position_time_public_copy_and_thumbnail(tree, media):
    data = jpeg_with_exif()
    case = file_case(upload(data, "IMG_0001.JPG"))
    [att] = list(case.attachments.all())
    assert att.name == "IMG_0001.JPG" and att.content_type == "image/jpeg" and att.size == len(data)
    assert att.lat == pytest.approx(33.505, abs=1e-6)
    assert att.lng == pytest.approx(110.808333, abs=1e-6)
    assert att.taken_at == dt.datetime(2025, 5, 1, 1, 30, tzinfo=dt.UTC)  # 09:30 in Shanghai
    assert att.is_image

    # The original is kept as uploaded (staff evidence), under a name the uploader did not choose.
    with default_storage.open(att.file.name) as fh:
        assert fh.read() == data
    assert "IMG_0001" not in att.file.name and att.file.name.startswith("cases/")

    with default_storage.open(att.public_file.name) as fh:
        public_bytes = fh.read()
    public = Image.open(io.BytesIO(public_bytes))
    assert public.format == "JPEG" and public.size == (1600, 1200)
    assert dict(public.getexif()) == {}
    assert "exif" not in public.info and "xmp" not in public.info and "comment" not in public.info
    for marker in (b"Exif", b"xmpmeta", b"secret-place", b"shot at home", b"TestCam"):
        assert marker not in public_bytes

    with default_storage.open(att.thumbnail.name) as fh:
        thumb = Image.open(io.BytesIO(fh.read()))
    assert thumb.format == "JPEG" and max(thumb.size) == 320 and thumb.size == (320, 240)
    assert dict(thumb.getexif()) == {}
    assert len(stored_files(media)) == 3


def test_degrees_minutes_seconds_south_and_west():
    exif = Image.open(io.BytesIO(jpeg_with_exif(lat=(12, 3, 0), lat_ref="S", lng=(45, 30, 36), lng_ref="W"))).getexif()
    assert attachments.exif_location(exif) == (pytest.approx(-45.51), pytest.approx(-12.05))


def test_time_with_its_own_offset_and_implausible_times():
    with_offset = Image.open(io.BytesIO(jpeg_with_exif(offset="+02:00"))).getexif()
    assert attachments.exif_taken_at(with_offset) == dt.datetime(2025, 5, 1, 7, 30, tzinfo=dt.UTC)
    future = Image.open(io.BytesIO(jpeg_with_exif(taken="2999:01:01 00:00:00"))).getexif()
    assert attachments.exif_taken_at(future) is None
    garbage = Image.open(io.BytesIO(jpeg_with_exif(taken="not a date"))).getexif()
    assert attachments.exif_taken_at(garbage) is None


def test_photo_without_metadata_has_no_position(tree):
    out = io.BytesIO()
    Image.new("RGB", (640, 480), "white").save(out, "JPEG")
    case = file_case(upload(out.getvalue()))
    att = case.attachments.get()
    assert att.lng is None and att.lat is None and att.taken_at is None
    assert att.thumbnail and att.public_file


def test_orientation_is_applied_to_the_copies(tree):
    case = file_case(upload(jpeg_with_exif(size=(800, 400), orientation=6)))  # rotated 90°: portrait
    att = case.attachments.get()
    with default_storage.open(att.public_file.name) as fh:
        assert Image.open(fh).size == (400, 800)


def test_png_with_transparency_and_webp(tree):
    png = io.BytesIO()
    Image.new("RGBA", (500, 300), (0, 128, 0, 100)).save(png, "PNG")
    webp = io.BytesIO()
    Image.new("RGB", (300, 500), "blue").save(webp, "WEBP")
    case = file_case(upload(png.getvalue(), "a.png", "image/png"), upload(webp.getvalue(), "b.webp", "image/webp"))
    a, b = case.attachments.order_by("id")
    assert a.content_type == "image/png" and a.public_file.name.endswith(".png")
    assert b.content_type == "image/webp" and b.public_file.name.endswith(".jpg")
    assert attachments.public_content_type(a.public_file.name) == "image/png"
    with default_storage.open(b.thumbnail.name) as fh:
        assert Image.open(fh).size == (192, 320)


def test_pdf_is_a_plain_file_never_public(tree):
    pdf = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    case = file_case(upload(pdf, "letter.pdf", "application/pdf"))
    att = case.attachments.get()
    assert att.content_type == "application/pdf" and not att.is_image
    assert not att.public_file and not att.thumbnail


def refused(*uploads, **kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        file_case(*uploads, **kwargs)
    assert info.value.code == CaseErrorCode.INVALID_ATTACHMENT
    return info.value


def test_text_renamed_jpg_is_refused(tree, media):
    exc = refused(upload(b"just some text, honestly a photo", "photo.jpg", "image/jpeg"))
    assert "photo.jpg" in exc.message and exc.status == 400
    assert Case.objects.count() == 0 and CaseAttachment.objects.count() == 0
    assert stored_files(media) == []


def test_truncated_jpeg_is_refused(tree, media):
    data = jpeg_with_exif()
    refused(upload(data[: len(data) // 2]))
    assert Case.objects.count() == 0 and stored_files(media) == []


def test_heic_is_refused_with_a_clear_message(tree):
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 100
    exc = refused(upload(heic, "IMG_2001.HEIC", "image/heic"))
    assert "HEIC" in exc.message and "JPEG" in exc.message


def test_oversize_is_refused(tree, settings, media):
    settings.CASE_UPLOAD_MAX_MB = 1
    big = b"\xff\xd8\xff\xe0" + b"\x00" * (1024 * 1024)
    exc = refused(upload(big))
    assert "1 MB" in exc.message
    assert Case.objects.count() == 0 and stored_files(media) == []


def test_decompression_bomb_is_refused_before_decoding(tree, settings, media):
    settings.CASE_UPLOAD_MAX_MEGAPIXELS = 1
    out = io.BytesIO()
    Image.new("L", (1200, 1000)).save(out, "PNG")  # a few kB that would decode to 1.2 megapixels
    exc = refused(upload(out.getvalue(), "bomb.png", "image/png"))
    assert "1200 × 1000" in exc.message
    assert stored_files(media) == []


def test_too_many_files(tree, settings, media):
    settings.CASE_UPLOAD_MAX_FILES = 2
    photos = [upload(jpeg_with_exif(size=(64, 64)), f"p{i}.jpg") for i in range(3)]
    exc = refused(*photos)
    assert "2" in exc.message
    assert Case.objects.count() == 0 and CaseAttachment.objects.count() == 0
    assert stored_files(media) == []


def test_a_refused_upload_refuses_the_case_and_leaves_no_files(tree, media):
    good = upload(jpeg_with_exif(size=(320, 200)), "good.jpg")
    bad = upload(b"%PDF-1.4 but cut short", "bad.pdf", "application/pdf")
    refused(good, bad, client_key="k-refused")
    assert Case.objects.count() == 0 and CaseAttachment.objects.count() == 0
    assert stored_files(media) == []
    # The same client key files normally once the photos are right.
    case = file_case(upload(jpeg_with_exif(size=(320, 200)), "good.jpg"), client_key="k-refused")
    assert case.attachments.count() == 1 and len(stored_files(media)) == 3


def test_discard_on_error_deletes_files_of_a_failed_block(tree, media):
    case = file_case()
    with pytest.raises(RuntimeError), attachments.discard_on_error():
        attachments.attachment_create(case=case, upload=ContentFile(jpeg_with_exif(size=(64, 64)), name="x.jpg"))
        raise RuntimeError("something after the uploads failed")
    assert stored_files(media) == []


def test_quick_check_for_forms():
    assert attachments.check_upload(upload(jpeg_with_exif(size=(10, 10)))) is attachments.JPEG
    with pytest.raises(ApplicationError):
        attachments.check_upload(upload(b"%PDF-1.4\n%%EOF", "a.pdf"), images_only=True)
    assert attachments.read_location(upload(jpeg_with_exif(size=(10, 10)))) == (
        pytest.approx(110.808333, abs=1e-6), pytest.approx(33.505))
    assert attachments.read_location(upload(b"text")) is None


def test_s3_storage_needs_boto3_or_is_configured():
    """With GRIDGOV_S3_BUCKET set, the default storage is django-storages' S3 backend with signed URLs; without
    boto3 installed the settings refuse to load with the command that installs it."""
    env = {**os.environ, "GRIDGOV_S3_BUCKET": "gridgov-media", "GRIDGOV_S3_ENDPOINT_URL": "http://127.0.0.1:9",
           "GRIDGOV_S3_ACCESS_KEY": "k", "GRIDGOV_S3_SECRET_KEY": "s", "GRIDGOV_S3_REGION": "cn-north-1"}
    code = ("from django.conf import settings; d = settings.STORAGES['default']; "
            "print(d['BACKEND'], d['OPTIONS']['querystring_auth'], d['OPTIONS']['endpoint_url'])")
    result = subprocess.run([sys.executable, "-c", "import django, os; os.environ.setdefault("  # noqa: S603
                             "'DJANGO_SETTINGS_MODULE', 'gridgov.settings'); " + code],
                            env=env, capture_output=True, text=True, timeout=120)
    try:
        import boto3  # noqa: F401
    except ImportError:
        assert result.returncode != 0 and "pip install 'gridgov[s3]'" in result.stderr
    else:
        assert result.stdout.split() == ["storages.backends.s3.S3Storage", "True", "http://127.0.0.1:9"]
