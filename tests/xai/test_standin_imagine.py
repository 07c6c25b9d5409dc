"""Tests of the stand-in's Grok Imagine routes (images, edits, videos), with plain `requests`."""

from __future__ import annotations

import base64
import io
import time

import pytest
import requests
from PIL import Image

from tests.support.standin_imagine import imagine_state
from tests.support.xai_standin import FAKE_KEY

AUTH = {"Authorization": f"Bearer {FAKE_KEY}"}
IMAGE = {"model": "grok-imagine-image", "prompt": "A lighthouse at dusk"}
VIDEO = {"model": "grok-imagine-video", "prompt": "Waves rolling in"}
PUBLIC = {"url": "https://example.com/cat.png", "type": "image_url"}


@pytest.fixture(autouse=True)
def no_standin_bugs(xai_server):
    yield
    assert xai_server.errors == []


def post(srv, route: str, body, headers=AUTH, **kw) -> requests.Response:
    return requests.post(f"{srv.base_url}/{route}", json=body, headers=headers, timeout=30, **kw)


def generate(srv, **fields) -> requests.Response:
    return post(srv, "images/generations", {**IMAGE, **fields})


def edit(srv, **fields) -> requests.Response:
    return post(srv, "images/edits", {**IMAGE, **fields})


def poll(srv, request_id: str, session=requests) -> requests.Response:
    return session.get(f"{srv.base_url}/videos/{request_id}", headers=AUTH, timeout=10)


def data_url(fmt: str = "JPEG") -> str:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), (20, 120, 200)).save(buf, fmt)
    return f"data:image/{fmt.lower()};base64,{base64.b64encode(buf.getvalue()).decode()}"


def picture(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def refused(resp: requests.Response, status: int, words: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"code", "error"} and words in body["error"], body


# -- images/generations -----------------------------------------------------------------------
def test_three_images_are_distinct_jpegs_of_the_asked_size_served_without_auth(xai_server):
    resp = generate(xai_server, n=3, aspect_ratio="16:9")
    assert resp.status_code == 200, resp.text
    items = resp.json()["data"]
    assert [i["revised_prompt"] for i in items] == [
        "A lighthouse at dusk — rendered as a detailed illustration",
        "A lighthouse at dusk — rendered as a detailed illustration, variation 2",
        "A lighthouse at dusk — rendered as a detailed illustration, variation 3"]
    xai_server.requests.clear()
    files = []
    for item in items:
        assert item["url"].startswith(f"{xai_server.url}/files/imagine/")
        assert item["url"].endswith(".jpeg")
        got = requests.get(item["url"], timeout=10)
        assert got.status_code == 200 and got.headers["Content-Type"] == "image/jpeg"
        img = picture(got.content)
        assert (img.format, img.size) == ("JPEG", (1024, 576))
        assert len(img.getcolors(1 << 24) or []) > 1000  # real picture content, not flat colour
        files.append(got.content)
    assert len(set(files)) == 3
    assert [g.data for g in imagine_state(xai_server).generated] == files
    fetched = [r for r in xai_server.requests if r.path.startswith("/files/imagine/")]
    assert len(fetched) == 3 and all("Authorization" not in r.headers for r in fetched)


@pytest.mark.parametrize(("fields", "size"), [
    ({}, (1024, 1024)),
    ({"aspect_ratio": "auto"}, (1024, 1024)),
    ({"aspect_ratio": "9:16", "resolution": "2k"}, (1152, 2048)),
    ({"aspect_ratio": "4:3", "resolution": "1k"}, (1024, 768)),
    ({"aspect_ratio": "19.5:9"}, (1024, 473)),
    ({"aspect_ratio": "1:2", "resolution": "2k"}, (1024, 2048)),
])
def test_size_follows_resolution_and_aspect(xai_server, fields, size):
    resp = generate(xai_server, response_format="b64_json", **fields)
    assert picture(base64.b64decode(resp.json()["data"][0]["b64_json"])).size == size


def test_a_2k_jpeg_weighs_a_few_hundred_kb_and_the_png_knob_makes_pngs(xai_server):
    jpeg = requests.get(generate(xai_server, resolution="2k").json()["data"][0]["url"],
                        timeout=10)
    assert 200_000 < len(jpeg.content) < 1_500_000
    imagine_state(xai_server).file_format = "png"
    png = requests.get(generate(xai_server, resolution="2k").json()["data"][0]["url"],
                       timeout=10)
    assert png.headers["Content-Type"] == "image/png" and picture(png.content).format == "PNG"
    assert len(png.content) > 2 * len(jpeg.content)


def test_b64_json_round_trips_the_image_and_serves_no_file(xai_server):
    resp = generate(xai_server, response_format="b64_json", n=2)
    items = resp.json()["data"]
    assert all(set(i) == {"b64_json", "revised_prompt"} for i in items)
    made = imagine_state(xai_server).generated
    assert [base64.b64decode(i["b64_json"]) for i in items] == [g.data for g in made]
    assert [g.url for g in made] == [None, None]
    assert picture(made[0].data).format == "JPEG"


def test_the_same_prompt_and_index_make_the_same_image(xai_server):
    first = generate(xai_server, response_format="b64_json", n=2).json()["data"]
    again = generate(xai_server, response_format="b64_json").json()["data"]
    assert again[0]["b64_json"] == first[0]["b64_json"] != first[1]["b64_json"]


def test_usage_ticks_are_exact_and_the_knobs_drop_usage_and_revised_prompt(xai_server):
    assert generate(xai_server, n=2).json()["usage"] == {"cost_in_usd_ticks": 400_000_000}
    state = imagine_state(xai_server)
    state.send_usage = state.revised = False
    body = generate(xai_server).json()
    assert "usage" not in body and set(body["data"][0]) == {"url"}


@pytest.mark.parametrize(("fields", "status", "words"), [
    ({"n": 0}, 400, "`n` must be an integer from 1 to 10"),
    ({"n": 11}, 400, "`n` must be an integer from 1 to 10"),
    ({"n": True}, 400, "`n` must be an integer from 1 to 10"),
    ({"n": 2.0}, 400, "`n` must be an integer"),
    ({"aspect_ratio": "5:4"}, 400, "Invalid `aspect_ratio` '5:4'"),
    ({"resolution": "4k"}, 400, "Invalid `resolution`"),
    ({"response_format": "png"}, 400, "Invalid `response_format`"),
    ({"size": "1024x1024"}, 400, "Argument not supported: size"),
    ({"style": "vivid"}, 400, "Argument not supported: style"),
    ({"seed": 7}, 400, "Argument not supported: seed"),
    ({"quality": "low"}, 400, "Argument not supported on grok-imagine-image: quality"),
    ({"model": "grok-imagine-image-2.0", "quality": "high"}, 400, "Invalid `quality`"),
    ({"model": "grok-4.3"}, 400, "The model grok-4.3 cannot generate images"),
    ({"model": "grok-imagine-video"}, 400, "The model grok-imagine-video cannot generate images"),
    ({"model": "dall-e-3"}, 404, "The model dall-e-3 does not exist"),
    ({"model": None}, 400, "`model` is required"),
    ({"prompt": "   "}, 400, "`prompt` is required"),
    ({"prompt": None}, 400, "`prompt` is required"),
    ({"prompt": "x" * 8001}, 400, "8,001 characters long; the maximum is 8,000"),
    ({"user": 5}, 400, "`user` must be a string"),
])
def test_invalid_generations_are_refused(xai_server, fields, status, words):
    body = {k: v for k, v in {**IMAGE, **fields}.items() if v is not None}
    refused(post(xai_server, "images/generations", body), status, words)
    assert imagine_state(xai_server).generated == []


@pytest.mark.parametrize("fields", [
    {"model": "grok-imagine-image-2.0", "quality": "low"},
    {"model": "grok-imagine-image-quality", "n": 10, "response_format": "b64_json"},
    {"prompt": "y" * 8000, "user": "u-1", "aspect_ratio": "9:20"},
])
def test_valid_edge_cases_are_answered(xai_server, fields):
    resp = generate(xai_server, **fields)
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["data"]) == fields.get("n", 1)


def test_moderation_refuses_a_forbidden_prompt_with_xais_body(xai_server):
    resp = generate(xai_server, prompt="A FORBIDDEN door")
    assert resp.status_code == 400
    assert resp.json() == {"code": "Client specified an invalid argument",
                           "error": "Generated image rejected by content moderation."}
    assert imagine_state(xai_server).generated == []


@pytest.mark.parametrize("route", ["images/generations", "images/edits", "videos/generations"])
def test_imagine_routes_need_the_key(xai_server, route):
    refused(post(xai_server, route, IMAGE, headers={}), 401, "No API key provided")
    refused(post(xai_server, route, IMAGE, headers={"Authorization": "Bearer xai-wrong-key-99"}),
            400, "Incorrect API key provided: xa***99")
    assert requests.get(f"{xai_server.base_url}/videos/x", timeout=5).status_code == 401


def test_the_routes_take_only_json_posts(xai_server):
    resp = requests.post(f"{xai_server.base_url}/images/generations", data="prompt=x",
                         headers={**AUTH, "Content-Type": "application/x-www-form-urlencoded"},
                         timeout=5)
    refused(resp, 415, "application/json")
    refused(requests.get(f"{xai_server.base_url}/images/generations", headers=AUTH, timeout=5),
            405, "GET is not allowed")
    refused(post(xai_server, "images/variations", IMAGE), 404, "No route")


def test_latency_knob_delays_the_image_answer(xai_server):
    imagine_state(xai_server).latency = 0.4
    start = time.monotonic()
    assert generate(xai_server).status_code == 200
    assert time.monotonic() - start >= 0.4


# -- images/edits -----------------------------------------------------------------------------
def test_edits_take_one_image_or_up_to_three_and_bill_the_inputs(xai_server):
    one = edit(xai_server, image={"url": data_url(), "type": "image_url"})
    assert one.status_code == 200, one.text
    assert one.json()["usage"] == {"cost_in_usd_ticks": 220_000_000}
    three = edit(xai_server, n=2, images=[PUBLIC, {"url": data_url("PNG")}, PUBLIC])
    assert three.status_code == 200, three.text
    assert three.json()["usage"] == {"cost_in_usd_ticks": 2 * 200_000_000 + 3 * 20_000_000}
    assert len(three.json()["data"]) == 2


@pytest.mark.parametrize(("fields", "words"), [
    ({}, "exactly one of `image`"),
    ({"image": PUBLIC, "images": [PUBLIC]}, "exactly one of `image`"),
    ({"images": []}, "`images` must hold 1 to 3 images; got 0"),
    ({"images": [PUBLIC] * 4}, "`images` must hold 1 to 3 images; got 4"),
    ({"image": {"url": "https://example.com/a.png", "type": "file"}}, 'type must be "image_url"'),
    ({"image": "https://example.com/a.png"}, "expected an object with a `url`"),
    ({"image": {"url": "http://127.0.0.1:9/cat.png"}}, "not reachable from the internet"),
    ({"images": [PUBLIC, {"url": "http://192.168.1.4/x.jpg"}]}, "images[1]: failed to fetch"),
    ({"image": {"url": "data:image/png;base64,iVBORw0KGgoAAAA="}}, "invalid image data"),
    ({"image": {"url": data_url().replace("image/jpeg", "image/png")}}, "declares image/png"),
    ({"image": {"url": "data:image/gif;base64,R0lGOD=="}}, "unsupported image type"),
])
def test_invalid_edits_are_refused(xai_server, fields, words):
    refused(edit(xai_server, **fields), 400, words)
    assert imagine_state(xai_server).generated == []


def test_image_fields_are_edit_only(xai_server):
    refused(generate(xai_server, image=PUBLIC), 400, "Argument not supported: image")


# -- file faults ------------------------------------------------------------------------------
def fault_url(srv, fault: str) -> str:
    imagine_state(srv).file_fault = fault
    return generate(srv).json()["data"][0]["url"]


def test_expired_file_answers_403_with_an_s3_body(xai_server):
    got = requests.get(fault_url(xai_server, "expired"), timeout=5)
    assert got.status_code == 403 and got.headers["Content-Type"] == "application/xml"
    assert b"<Code>AccessDenied</Code>" in got.content and b"Request has expired" in got.content


def test_redirected_file_points_at_the_real_image(xai_server):
    got = requests.get(fault_url(xai_server, "redirect"), timeout=5, allow_redirects=False)
    assert got.status_code == 302
    target = got.headers["Location"]
    assert target.startswith(f"{xai_server.url}/files/imagine/moved/")
    moved = requests.get(target, timeout=5)
    assert moved.content == imagine_state(xai_server).generated[0].data


def test_html_file_is_a_web_page(xai_server):
    got = requests.get(fault_url(xai_server, "html"), timeout=5)
    assert got.status_code == 200 and got.headers["Content-Type"].startswith("text/html")
    assert got.content.startswith(b"<!DOCTYPE html>")


def test_huge_file_declares_60_mb_and_streams_them_after_a_real_jpeg(xai_server):
    url = fault_url(xai_server, "huge")
    assert int(requests.head(url, timeout=5).headers["Content-Length"]) == 60 * 1024 * 1024
    with requests.get(url, timeout=5, stream=True) as got:
        head = next(got.iter_content(1024 * 1024))
    assert head.startswith(b"\xff\xd8\xff")
    data = imagine_state(xai_server).generated[0].data
    assert head[: len(data)] == data[: len(head)]


def test_mismatched_file_says_png_but_holds_a_jpeg(xai_server):
    got = requests.get(fault_url(xai_server, "mismatch"), timeout=5)
    assert got.headers["Content-Type"] == "image/png" and got.content[:3] == b"\xff\xd8\xff"


def test_a_file_fault_spoils_only_the_next_generation(xai_server):
    fault_url(xai_server, "html")
    clean = requests.get(generate(xai_server).json()["data"][0]["url"], timeout=5)
    assert clean.headers["Content-Type"] == "image/jpeg"


# -- videos -----------------------------------------------------------------------------------
def test_video_is_pending_then_done_with_a_served_mp4_and_its_cost(xai_server):
    resp = post(xai_server, "videos/generations", {**VIDEO, "duration": 4})
    assert resp.status_code == 200 and set(resp.json()) == {"request_id"}
    rid = resp.json()["request_id"]
    pending = [poll(xai_server, rid).json() for _ in range(2)]
    assert [p["status"] for p in pending] == ["pending", "pending"]
    assert all(p["model"] == "grok-imagine-video" for p in pending)
    progress = [p["progress"] for p in pending]
    assert progress == sorted(progress) and all(0 <= p <= 99 for p in progress)
    done = poll(xai_server, rid).json()
    assert done["status"] == "done" and done["model"] == "grok-imagine-video"
    assert done["usage"] == {"cost_in_usd_ticks": 4 * 500_000_000}
    video = done["video"]
    assert video["duration"] == 4 and video["respect_moderation"] is True
    assert video["url"].endswith(".mp4")
    got = requests.get(video["url"], timeout=5)
    assert got.headers["Content-Type"] == "video/mp4"
    assert got.content[4:12] == b"ftypisom" and b"mdat" in got.content
    assert poll(xai_server, rid).json() == done  # done stays done, same URL


def test_a_longer_video_is_a_bigger_file_and_the_default_is_6_seconds(xai_server):
    imagine_state(xai_server).video_polls = 0
    sizes = []
    for fields in ({"duration": 1}, {}):
        rid = post(xai_server, "videos/generations", {**VIDEO, **fields}).json()["request_id"]
        done = poll(xai_server, rid).json()
        sizes.append(len(requests.get(done["video"]["url"], timeout=5).content))
    assert done["video"]["duration"] == 6 and sizes[1] > sizes[0]


def test_another_client_can_poll_an_old_job_until_reset(xai_server):
    imagine_state(xai_server).video_polls = 0
    rid = post(xai_server, "videos/generations", VIDEO).json()["request_id"]
    with requests.Session() as restarted:
        assert poll(xai_server, rid, restarted).json()["status"] == "done"
    xai_server.reset()
    refused(poll(xai_server, rid), 404, f"No video request '{rid}'")


@pytest.mark.parametrize(("knob", "value", "end"), [
    ("video_fail", True, {"status": "failed", "error": "Video generation failed: please try again."}),
    ("video_fail", "Out of capacity.", {"status": "failed", "error": "Out of capacity."}),
    ("video_expire", True, {"status": "expired"}),
])
def test_failed_and_expired_videos(xai_server, knob, value, end):
    setattr(imagine_state(xai_server), knob, value)
    rid = post(xai_server, "videos/generations", VIDEO).json()["request_id"]
    assert [poll(xai_server, rid).json()["status"] for _ in range(2)] == ["pending"] * 2
    assert poll(xai_server, rid).json() == end


def test_unknown_video_id_is_404(xai_server):
    refused(poll(xai_server, "0b5e-not-a-job"), 404, "No video request")


def test_video_file_fault(xai_server):
    state = imagine_state(xai_server)
    state.video_polls, state.file_fault = 0, "expired"
    rid = post(xai_server, "videos/generations", VIDEO).json()["request_id"]
    assert requests.get(poll(xai_server, rid).json()["video"]["url"], timeout=5).status_code == 403


@pytest.mark.parametrize(("fields", "status", "words"), [
    ({"duration": 0}, 400, "`duration` must be an integer from 1 to 15"),
    ({"duration": 16}, 400, "`duration` must be an integer from 1 to 15"),
    ({"duration": True}, 400, "`duration` must be an integer"),
    ({"resolution": "1080p"}, 400, "Invalid `resolution` '1080p'"),
    ({"aspect_ratio": "7:5"}, 400, "Invalid `aspect_ratio`"),
    ({"n": 2}, 400, "Argument not supported: n"),
    ({"prompt": ""}, 400, "`prompt` is required"),
    ({"prompt": "a forbidden dance"}, 400, "rejected by content moderation"),
    ({"model": "grok-imagine-image"}, 400, "cannot generate videos"),
    ({"model": "sora-2"}, 404, "does not exist"),
    ({"image": {"url": "http://localhost/start.png"}}, 400, "not reachable from the internet"),
])
def test_invalid_videos_are_refused(xai_server, fields, status, words):
    refused(post(xai_server, "videos/generations", {**VIDEO, **fields}), status, words)
    assert imagine_state(xai_server).jobs == {}


def test_1080p_and_a_start_image_on_video_1_5(xai_server):
    resp = post(xai_server, "videos/generations", {
        **VIDEO, "model": "grok-imagine-video-1.5", "resolution": "1080p", "duration": 15,
        "aspect_ratio": "9:16", "image": {"url": data_url()}})
    assert resp.status_code == 200, resp.text
    [job] = imagine_state(xai_server).jobs.values()
    assert (job.model, job.resolution, job.duration) == ("grok-imagine-video-1.5", "1080p", 15)


def test_reset_forgets_the_knobs(xai_server):
    state = imagine_state(xai_server)
    state.send_usage, state.file_fault = False, "html"
    generate(xai_server)
    xai_server.reset()
    fresh = imagine_state(xai_server)
    assert fresh is not state and fresh.generated == [] and fresh.send_usage
    assert "usage" in generate(xai_server).json()
