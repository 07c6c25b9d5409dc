"""Tests for grok_magic.inputs.images: every source kind, format policy, limits, URLs, cache, errors."""

from __future__ import annotations

import base64
import io
import socket
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image

from grok_magic.errors import ImageError
from grok_magic.inputs import images
from grok_magic.inputs.images import (
    EncodedImage,
    cache_info,
    clear_cache,
    describe_source,
    encode,
    encode_image,
    is_image_like,
    is_local_url,
    sources,
    to_image_part,
)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the Agg backend)

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_cache()
    yield
    clear_cache()


def decode(part: dict) -> tuple[str, bytes, Image.Image]:
    """(mime, raw bytes, loaded image) of a data-URL image part; checks the mime matches."""
    assert part["type"] == "image_url"
    header, payload = part["image_url"]["url"].split(",", 1)
    mime = header.removeprefix("data:").removesuffix(";base64")
    raw = base64.b64decode(payload)
    image = Image.open(io.BytesIO(raw))
    image.load()
    assert mime == {"PNG": "image/png", "JPEG": "image/jpeg"}[image.format]
    return mime, raw, image


def halves(mode: str, left, right, size=(64, 48)) -> Image.Image:
    """An image whose left half is one value and right half another."""
    image = Image.new(mode, size, left)
    image.paste(Image.new(mode, (size[0] // 2, size[1]), right), (size[0] // 2, 0))
    return image


def photo(size=(320, 240), seed=0) -> Image.Image:
    """A noisy gradient that compresses like a photo."""
    rng = np.random.default_rng(seed)
    width, height = size
    ramp = np.linspace(0, 200, width)[None, :, None] + np.linspace(0, 40, height)[:, None, None]
    pixels = ramp + rng.normal(0, 12, (height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def encoded(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def rgba_at(image: Image.Image, xy) -> tuple:
    return image.convert("RGBA").getpixel(xy)


def close(a, b, tolerance=40) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


# --- import hygiene ---------------------------------------------------------------------------


def test_import_is_light():
    code = (
        "import sys, grok_magic.inputs.images; "
        "heavy = [m for m in ('PIL', 'numpy', 'requests', 'matplotlib', 'IPython', 'ipywidgets') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- PIL images, every mode -----------------------------------------------------------------

MODES = [
    # mode, left value, right value, expected RGBA left, expected RGBA right, expected format
    ("RGB", RED, BLUE, RED + (255,), BLUE + (255,), "PNG"),
    ("RGBA", (255, 0, 0, 255), (0, 0, 255, 0), (255, 0, 0, 255), (0, 0, 0, 0), "PNG"),
    ("L", 0, 200, (0, 0, 0, 255), (200, 200, 200, 255), "PNG"),
    ("LA", (10, 255), (200, 0), (10, 10, 10, 255), (0, 0, 0, 0), "PNG"),
    ("CMYK", (0, 255, 255, 0), (255, 255, 0, 0), RED + (255,), BLUE + (255,), "PNG"),
    ("YCbCr", (76, 85, 255), (29, 255, 107), RED + (255,), BLUE + (255,), "PNG"),
    ("I;16", 0, 65535, (0, 0, 0, 255), WHITE + (255,), "PNG"),
    ("I", 0, 200, (0, 0, 0, 255), (200, 200, 200, 255), "PNG"),
    ("F", 0.0, 1.0, (0, 0, 0, 255), WHITE + (255,), "PNG"),
    ("1", 0, 1, (0, 0, 0, 255), WHITE + (255,), "PNG"),
]


@pytest.mark.parametrize(("mode", "left", "right", "want_left", "want_right", "fmt"), MODES)
def test_pil_modes(mode, left, right, want_left, want_right, fmt):
    source = halves(mode, left, right)
    _, _, image = decode(to_image_part(source))
    assert image.format == fmt and image.size == (64, 48)
    got_left, got_right = rgba_at(image, (5, 5)), rgba_at(image, (60, 40))
    if want_left[3] == 0:
        assert got_left[3] == 0
    else:
        assert close(got_left, want_left, 3)
    if want_right[3] == 0:
        assert got_right[3] == 0
    else:
        assert close(got_right, want_right, 3)


def test_palette_with_transparency_keeps_alpha():
    source = halves("P", 0, 1)
    source.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    source.info["transparency"] = 1
    _, _, image = decode(to_image_part(source))
    assert image.format == "PNG" and image.mode == "RGBA"
    assert rgba_at(image, (5, 5)) == (255, 0, 0, 255)
    assert rgba_at(image, (60, 40))[3] == 0


def test_opaque_alpha_photo_goes_as_jpeg():
    source = photo().convert("RGBA")
    mime, _, image = decode(to_image_part(source))
    assert mime == "image/jpeg" and image.mode == "RGB"


def test_photo_goes_as_jpeg_and_diagram_as_png():
    source = photo()
    mime, _, image = decode(to_image_part(source))
    assert mime == "image/jpeg" and image.size == source.size
    assert close(image.getpixel((100, 100)), source.getpixel((100, 100)), 40)
    mime, _, _ = decode(to_image_part(halves("RGB", WHITE, RED, (400, 300))))
    assert mime == "image/png"


def test_grey_photo_goes_as_jpeg():
    mime, _, image = decode(to_image_part(photo().convert("L")))
    assert mime == "image/jpeg" and image.mode == "L"


def test_animated_gif_sends_first_frame_and_says_so():
    frames = [Image.new("RGB", (32, 32), colour) for colour in (RED, BLUE, WHITE)]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    result = encode_image(data)
    assert any("first frame" in note for note in result.notes)
    _, _, image = decode(result.to_part())
    assert image.format == "PNG" and close(rgba_at(image, (16, 16)), RED + (255,), 3)


def test_pil_animated_image_keeps_its_frame():
    frames = [Image.new("RGB", (32, 32), colour) for colour in (RED, BLUE)]
    source = Image.open(io.BytesIO(encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])))
    source.seek(1)
    _, _, image = decode(to_image_part(source))
    assert close(rgba_at(image, (0, 0)), RED + (255,), 3)
    assert source.tell() == 1


def test_pil_image_with_exif_orientation_is_turned_upright():
    source = halves("RGB", RED, BLUE, (80, 40))
    exif = Image.Exif()
    exif[images.ORIENTATION_TAG] = 6
    source.info["exif"] = exif.tobytes()
    _, _, image = decode(to_image_part(source))
    assert image.size == (40, 80)


def test_empty_pil_image_is_an_error():
    with pytest.raises(ImageError, match="empty"):
        to_image_part(Image.new("RGB", (0, 0)))


# --- numpy arrays ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("array", "want_mode", "want_pixel"),
    [
        (np.full((20, 30), 77, np.uint8), "L", (77, 77, 77, 255)),
        (np.tile(np.array(RED, np.uint8), (20, 30, 1)), "RGB", RED + (255,)),
        (np.tile(np.array([0, 255, 0, 128], np.uint8), (20, 30, 1)), "RGBA", (0, 255, 0, 128)),
        (np.full((20, 30, 3), 0.5, np.float32), "RGB", (128, 128, 128, 255)),
        (np.ones((20, 30), bool), "L", WHITE + (255,)),
        (np.full((20, 30), 40000, np.uint16), "L", (155, 155, 155, 255)),
        (np.full((20, 30, 1), 9, np.int64), "L", (9, 9, 9, 255)),
    ],
    ids=["uint8-grey", "uint8-rgb", "uint8-rgba", "float", "bool", "uint16", "int64"],
)
def test_numpy_arrays(array, want_mode, want_pixel):
    _, _, image = decode(to_image_part(array))
    assert image.format == "PNG" and image.mode == want_mode and image.size == (30, 20)
    assert close(rgba_at(image, (3, 3)), want_pixel, 1)


def test_numpy_float_out_of_range_is_stretched_or_clipped():
    ramp = np.linspace(-5, 5, 30)[None, :].repeat(20, axis=0)
    result = encode_image(ramp)
    assert any("stretched" in note for note in result.notes)
    _, _, image = decode(result.to_part())
    assert image.getpixel((0, 0)) == 0 and image.getpixel((29, 0)) == 255
    result = encode_image(np.full((20, 30, 3), 2.0))
    assert any("clipped" in note for note in result.notes)


@pytest.mark.parametrize(
    ("array", "reason"),
    [
        (np.zeros((3, 32, 32), np.uint8), "transpose"),
        (np.zeros((32, 32, 2), np.uint8), "shape"),
        (np.zeros((32,), np.uint8), "shape"),
        (np.zeros((32, 32), np.complex64), "dtype"),
        (np.zeros((0, 32), np.uint8), "empty"),
        (np.full((8, 8), 300, np.int32), "300"),
        (np.full((8, 8), np.nan), "NaN"),
    ],
)
def test_numpy_bad_arrays(array, reason):
    with pytest.raises(ImageError, match=reason) as info:
        to_image_part(array)
    assert info.value.source.startswith("numpy array")


# --- matplotlib --------------------------------------------------------------------------------


def test_matplotlib_figure_and_axes():
    figure, axes = plt.subplots(figsize=(4, 3))
    axes.plot([0, 1, 2], [0, 1, 0])
    try:
        _, raw, image = decode(to_image_part(figure))
        assert image.format == "PNG" and 300 < image.width <= 600
        _, raw_from_axes, _ = decode(to_image_part(axes))
        assert raw_from_axes == raw
        assert cache_info().hits == 1
        assert describe_source(figure).startswith("matplotlib figure")
        assert describe_source(axes).startswith("matplotlib axes")
        assert is_image_like(figure) and is_image_like(axes)
    finally:
        plt.close(figure)


# --- bytes, file objects, paths: original bytes when already fine -------------------------------


def test_small_png_file_is_sent_byte_for_byte(tmp_path):
    data = encoded(halves("RGB", RED, BLUE), "PNG")
    path = tmp_path / "small.png"
    path.write_bytes(data)
    for source in (path, str(path), data, bytearray(data), io.BytesIO(data)):
        mime, raw, _ = decode(to_image_part(source))
        assert (mime, raw) == ("image/png", data)


def test_small_jpeg_is_sent_byte_for_byte(tmp_path):
    data = encoded(photo(), "JPEG", quality=80)
    mime, raw, _ = decode(to_image_part(data))
    assert (mime, raw) == ("image/jpeg", data)


def test_file_object_position_is_kept():
    data = encoded(halves("RGB", RED, BLUE), "PNG")
    file = io.BytesIO(data)
    to_image_part(file)
    assert file.tell() == 0
    to_image_part(file)
    assert cache_info().hits == 1


def test_text_mode_file_is_an_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with open(path) as file, pytest.raises(ImageError, match="text mode"):
        to_image_part(file)


def test_other_formats_are_converted():
    source = halves("RGB", RED, BLUE)
    for fmt in ("WEBP", "BMP", "TIFF"):
        _, _, image = decode(
            to_image_part(encoded(source, fmt, **({"lossless": True} if fmt == "WEBP" else {})))
        )
        assert image.format == "PNG" and close(rgba_at(image, (5, 5)), RED + (255,), 3)


def test_cmyk_jpeg_is_converted_to_rgb():
    data = encoded(halves("CMYK", (0, 255, 255, 0), (255, 255, 0, 0)), "JPEG", quality=95)
    _, _, image = decode(to_image_part(data))
    assert image.mode in ("RGB", "RGBA") and close(rgba_at(image, (5, 5)), RED + (255,))


def test_exif_rotated_jpeg_is_sent_upright(tmp_path):
    source = halves("RGB", RED, BLUE, (200, 100))  # left red, right blue
    exif = Image.Exif()
    exif[images.ORIENTATION_TAG] = 6  # rotate 90° clockwise to display
    path = tmp_path / "rotated.jpg"
    source.save(path, "JPEG", quality=95, exif=exif.tobytes())
    result = encode_image(path)
    assert "EXIF orientation applied" in result.notes
    _, _, image = decode(result.to_part())
    assert image.size == (100, 200)
    assert close(image.convert("RGB").getpixel((50, 40)), RED)
    assert close(image.convert("RGB").getpixel((50, 160)), BLUE)


def test_big_photo_is_resized_under_limits(tmp_path):
    path = tmp_path / "big.jpg"
    photo((600, 400)).resize((6000, 4000), Image.Resampling.BILINEAR).save(path, quality=90)
    result = encode_image(path)
    mime, raw, image = decode(result.to_part())
    assert mime == "image/jpeg" and image.size == (2048, 1365)
    assert len(raw) <= images.MAX_IMAGE_BYTES
    assert "resized from 6000×4000 to 2048×1365" in result.notes


def test_max_side_parameter_and_big_png(tmp_path):
    source = halves("RGB", WHITE, RED, (900, 300))
    _, _, image = decode(to_image_part(encoded(source, "PNG"), max_side=300))
    assert image.format == "PNG" and image.size == (300, 100)


def test_too_many_bytes_shrinks_until_it_fits():
    noisy = Image.effect_noise((300, 300), 80).convert("RGBA")  # alpha forces PNG
    noisy.putalpha(200)
    result = encode_image(noisy, max_bytes=40_000)
    assert result.nbytes <= 40_000 and result.mime == "image/png"
    assert result.width < 300 and any("shrunk" in note for note in result.notes)


def test_parallel_band_resize_matches_single_resize(monkeypatch):
    monkeypatch.setattr(encode, "PARALLEL_RESIZE_PIXELS", 0)
    monkeypatch.setattr(encode.os, "cpu_count", lambda: 2)
    source = photo((640, 480))
    single = np.asarray(source.resize((300, 225), Image.Resampling.BICUBIC, reducing_gap=3.0))
    banded = np.asarray(encode._resize(source, (300, 225)))
    assert np.abs(single.astype(int) - banded.astype(int)).max() <= 2


# --- errors -----------------------------------------------------------------------------------


def test_corrupt_png_is_an_error(tmp_path):
    data = encoded(photo(), "PNG")
    path = tmp_path / "broken.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="corrupt") as info:
        to_image_part(path)
    assert "broken.png" in info.value.source and "broken.png" in str(info.value)
    with pytest.raises(ImageError, match="corrupt"):
        to_image_part(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(ImageError, match="not found") as info:
        to_image_part(str(tmp_path / "nope.png"))
    assert "nope.png" in info.value.source and "nope.png" in str(info.value)


def test_folder_and_non_image_files_are_errors(tmp_path):
    with pytest.raises(ImageError, match="folder"):
        to_image_part(tmp_path)
    text = tmp_path / "readme.txt"
    text.write_text("not a picture")
    with pytest.raises(ImageError, match="not an image"):
        to_image_part(text)


def test_unsupported_type_lists_what_is_accepted():
    with pytest.raises(ImageError, match="PIL image, a numpy array") as info:
        to_image_part(42)
    assert info.value.source == "int object"


def test_detail():
    source = halves("RGB", RED, BLUE)
    assert "detail" not in to_image_part(source)["image_url"]
    assert to_image_part(source, "high")["image_url"]["detail"] == "high"
    with pytest.raises(ImageError, match="detail"):
        to_image_part(source, "medium")


def test_encoded_image_is_accepted_and_short_in_repr():
    result = encode_image(halves("RGB", RED, BLUE))
    assert to_image_part(result, "low")["image_url"]["url"] == result.url
    assert "base64" not in repr(result) and isinstance(result, EncodedImage)


# --- URLs ---------------------------------------------------------------------------------------


PNG_BYTES = encoded(halves("RGB", RED, BLUE), "PNG")


@pytest.fixture
def server(xai_server):
    """Files served on loopback by the test stand-in (no auth), like a local Jupyter server's."""
    xai_server.serve_bytes("cat.png", PNG_BYTES, "image/png")
    xai_server.serve_bytes("page", b"<html>hello</html>", "text/html; charset=utf-8")
    xai_server.serve_bytes("big.png", encoded(photo((200, 200)), "PNG"), "image/png")
    return f"{xai_server.url}/files"


@pytest.fixture
def no_network(monkeypatch):
    """DNS says nothing resolves and any HTTP request fails the test."""
    import requests

    def no_dns(*args, **kwargs):
        raise socket.gaierror("no network in tests")

    def no_http(*args, **kwargs):
        raise AssertionError("a public URL must not be downloaded")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(requests.Session, "request", no_http)


def test_public_url_is_passed_through(no_network):
    url = "https://example.com/cat.png"
    assert to_image_part(url) == {"type": "image_url", "image_url": {"url": url}}
    assert to_image_part(url, "auto")["image_url"] == {"url": url, "detail": "auto"}
    gif = encode_image("https://example.com/anim.gif")
    assert gif.notes and not gif.is_inline and gif.mime is None


def test_url_classification_by_address(monkeypatch):
    def resolve_to(address):
        monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", (address, 443))])

    resolve_to("93.184.215.14")
    assert not is_local_url("https://images.example.org/a.png")
    for address in ("10.1.2.3", "192.168.0.7", "169.254.1.1", "100.100.1.1", "127.0.0.2"):
        resolve_to(address)
        assert is_local_url("https://intranet.example.org/a.png"), address
    for url in (
        "http://127.0.0.1/a.png",
        "http://[::1]:8000/a.png",
        "http://localhost:8888/files/a.png",
        "http://printer/a.png",
        "http://nas.local/a.png",
        "file:///tmp/a.png",
    ):
        assert is_local_url(url), url


def test_loopback_url_is_downloaded_and_inlined(server):
    mime, raw, _ = decode(to_image_part(f"{server}/cat.png"))
    assert (mime, raw) == ("image/png", PNG_BYTES)
    mime, raw, _ = decode(to_image_part(f"{server.replace('127.0.0.1', 'localhost')}/cat.png"))
    assert raw == PNG_BYTES


def test_loopback_html_is_an_error(server):
    with pytest.raises(ImageError, match="text/html"):
        to_image_part(f"{server}/page")


def test_loopback_download_too_large_is_an_error(server):
    with pytest.raises(ImageError, match="larger than"):
        to_image_part(f"{server}/big.png", max_download_bytes=1000)


def test_loopback_missing_and_refused_are_errors(server):
    with pytest.raises(ImageError, match="HTTP 404"):
        to_image_part(f"{server}/nothing.png")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(ImageError, match="download failed"):
        to_image_part(f"http://127.0.0.1:{port}/cat.png", timeout=2)


def test_data_urls():
    url = "data:image/png;base64," + base64.b64encode(PNG_BYTES).decode()
    _, raw, _ = decode(to_image_part(url))
    assert raw == PNG_BYTES
    gif = "data:image/gif;base64," + base64.b64encode(encoded(halves("RGB", RED, BLUE), "GIF")).decode()
    assert decode(to_image_part(gif))[2].format == "PNG"
    with pytest.raises(ImageError, match="base64"):
        to_image_part("data:image/png;base64,@@@")


def test_file_url(tmp_path):
    path = tmp_path / "a b.png"
    path.write_bytes(PNG_BYTES)
    assert decode(to_image_part(path.as_uri()))[1] == PNG_BYTES


# --- cache --------------------------------------------------------------------------------------


def test_same_pil_image_is_encoded_once():
    source = photo()
    first = to_image_part(source)
    assert to_image_part(source) == first
    assert cache_info()[:2] == (1, 1)
    source.putpixel((0, 0), (1, 2, 3))
    to_image_part(source)
    assert cache_info()[:2] == (1, 2)
    clear_cache()
    assert cache_info() == (0, 0, 0, 0)


def test_same_file_is_encoded_once(tmp_path, monkeypatch):
    path = tmp_path / "p.jpg"
    photo().save(path, "PNG")  # a PNG photo: re-encoded as JPEG
    first = encode_image(path)
    monkeypatch.setattr(sources, "encode_file", None)  # a second encode would crash
    assert encode_image(Path(path)).url == first.url
    assert cache_info().hits == 1


def test_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(encode._CACHE, "max_entries", 3)
    for value in range(5):
        to_image_part(np.full((20, 20), value, np.uint8))
    assert cache_info().entries == 3


# --- labels and image-likeness -----------------------------------------------------------------


def test_describe_source():
    assert describe_source(Image.new("RGB", (640, 480))) == "PIL image 640×480 RGB"
    assert describe_source(np.zeros((480, 640, 3), np.uint8)) == "numpy array (480, 640, 3) uint8"
    assert describe_source("photo.jpg") == "file 'photo.jpg'"
    assert describe_source(Path("photo.jpg")) == "file 'photo.jpg'"
    assert describe_source("https://example.com/cat.png") == "URL https://example.com/cat.png"
    assert describe_source(b"x" * 2048) == "bytes (2.0 KiB)"
    assert describe_source("data:image/png;base64,AAAA").startswith("data URL (image/png")
    assert describe_source(io.BytesIO()) == "file object"


def test_is_image_like():
    assert is_image_like(Image.new("RGB", (4, 4)))
    assert is_image_like(np.zeros((32, 32, 3), np.uint8))
    assert is_image_like(np.zeros((32, 32, 4), np.float32))
    assert is_image_like(np.zeros((32, 32), bool))
    assert not is_image_like(np.zeros((32, 32), np.float64))  # a matrix, more likely data
    assert not is_image_like(np.zeros((3, 32, 32), np.uint8))
    assert not is_image_like(np.zeros((4, 4, 3), np.uint8))
    assert not is_image_like("photo.jpg")
    assert not is_image_like(b"\x89PNG")
    assert not is_image_like([1, 2, 3])


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_just_under_the_target(tmp_path):
    """A 4000×3000 photo aimed at 2048 px decodes at half scale (2000×1500) and is sent at that
    size (never scaled up); a 3000×2000 one, whose half scale is too small, is resized to 2048."""
    import base64
    import io

    from PIL import Image

    from grok_magic.inputs.images import to_image_part

    sizes = {}
    for width, height in ((4000, 3000), (3000, 2000)):
        path = tmp_path / f"photo{width}.jpg"
        Image.effect_noise((width, height), 60).convert("RGB").save(path, "JPEG", quality=85)
        part = to_image_part(str(path), max_side=2048)
        data = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
        sizes[width] = Image.open(io.BytesIO(data)).size
    assert sizes == {4000: (2000, 1500), 3000: (2048, 1365)}
