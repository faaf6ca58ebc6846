"""The loopback fake of Google's API, driven by the real google-genai SDK.

These tests also pin down what the SDK (3.x) surfaces for each answer, which is what
ttv's Google backends must handle; the comments say what the SDK gives.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import av
import pytest
from google import genai
from google.genai import errors, types
from PIL import Image

from scripts.fake_google_api import (
    FakeGoogleAPI,
    Fault,
    example_from_schema,
    image_size,
    patch_box,
    prompt_colour,
)

KEY = "test-key"
VEO = "veo-3.1-fast-generate-001"
REPO = Path(__file__).resolve().parent.parent
FLASH = "/v1beta/models/gemini-2.5-flash:generateContent"
HI = {"contents": [{"parts": [{"text": "hi"}]}]}
SCRIPT_SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "style": {"type": "string"},
        "characters": {"type": "array", "items": {"$ref": "#/$defs/Character"}},
        "shots": {"type": "array", "items": {"$ref": "#/$defs/Shot"}, "minItems": 1},
    },
    "required": ["title", "shots"],
    "$defs": {
        "Character": {
            "type": "object",
            "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
            "required": ["id"],
        },
        "Shot": {
            "type": "object",
            "properties": {
                "transition": {"enum": ["cut", "continue"]},
                "characters": {"type": "array", "items": {"type": "string"}},
                "start": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "end": {"type": "string"},
            },
            "required": ["transition", "end"],
        },
    },
}
# Variables that would change the client's mode or target, or route loopback traffic
# through a proxy: none may leak in from the environment.
ENV_VARS = [
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_GENAI_USE_ENTERPRISE",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake():
    with FakeGoogleAPI(api_key=KEY, image_scale=0.125, video_scale=0.1) as server:
        yield server


@pytest.fixture
def gemini(fake):
    """Developer API client, as ttv's text and image backends make it."""
    options = types.HttpOptions(base_url=fake.base_url, api_version="v1beta")
    return genai.Client(api_key=KEY, http_options=options)


@pytest.fixture
def vertex(fake):
    """Vertex express-mode client (API key, no project): the only way to Veo in 3.x."""
    options = types.HttpOptions(base_url=fake.base_url)
    return genai.Client(vertexai=True, api_key=KEY, http_options=options)


def png(colour=(200, 30, 30), size=(64, 36)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def post(base_url: str, path: str, body, key: str | None = KEY) -> tuple[int, dict]:
    """A raw POST to the fake, for what the SDK never sends (bad base64, no key)."""
    return send("POST", base_url, path, json.dumps(body).encode(), key)


def send(
    method: str, base_url: str, path: str, data: bytes | None, key: str | None = KEY
) -> tuple[int, dict]:
    """A raw request to the fake, bypassing any proxy; (status, JSON reply)."""
    request = urllib.request.Request(base_url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if key is not None:
        request.add_header("x-goog-api-key", key)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def image_of(response: types.GenerateContentResponse) -> Image.Image:
    blobs = [p.inline_data for p in response.candidates[0].content.parts]
    data = next(b.data for b in blobs if b is not None)
    return Image.open(io.BytesIO(data)).convert("RGB")


def close_to(actual, expected, tolerance=12) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


# -- text ----------------------------------------------------------------------------


def test_structured_text_reply_is_parsed_json(fake, gemini):
    config = types.GenerateContentConfig(
        response_mime_type="application/json",
        response_json_schema=SCRIPT_SCHEMA,
        system_instruction="You write scripts.",
    )
    response = gemini.models.generate_content(
        model="gemini-2.5-flash", contents="A robot at sea", config=config
    )

    script = response.parsed
    assert script["title"] and script["shots"][0]["transition"] == "cut"
    assert script["characters"] == [{"id": "hero", "name": "Hero"}]
    sent = fake.requests[-1]
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.body["generationConfig"]["responseJsonSchema"]["$defs"]
    assert sent.body["systemInstruction"]["parts"] == [{"text": "You write scripts."}]
    assert sent.api_key_present and sent.api_key_valid
    assert KEY not in json.dumps(sent.headers)


def test_tests_choose_the_reply(fake, gemini):
    fake.script_reply = lambda request: {"echo": request["contents"][0]["parts"]}
    config = types.GenerateContentConfig(response_mime_type="application/json")
    response = gemini.models.generate_content(
        model="gemini-2.5-flash", contents="hello", config=config
    )

    # Without a schema the SDK does not parse: response.parsed is None, read .text.
    assert response.parsed is None
    assert json.loads(response.text) == {"echo": [{"text": "hello"}]}
    usage = response.usage_metadata
    assert usage.total_token_count == usage.prompt_token_count + 20


@pytest.mark.parametrize(
    ("fault", "text"),
    [(Fault.invalid_json(), '{"title": "unterminated'), (Fault.empty_reply(), None)],
)
def test_unusable_text_replies(fake, gemini, fault, text):
    fake.fail_next("generateContent", fault)
    config = types.GenerateContentConfig(
        response_mime_type="application/json", response_json_schema=SCRIPT_SCHEMA
    )
    response = gemini.models.generate_content(
        model="gemini-2.5-flash", contents="story", config=config
    )

    # No exception either way: invalid JSON gives parsed None with the text kept;
    # an empty reply gives a candidate whose content has no parts, text None.
    assert response.parsed is None
    assert response.text == text
    assert response.candidates[0].finish_reason == types.FinishReason.STOP


def test_schema_examples_follow_both_schema_dialects():
    openapi = {
        "type": "OBJECT",
        "properties": {
            "n": {"type": "INTEGER", "minimum": 3},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "minItems": 2},
            "kind": {"type": "STRING", "enum": ["a", "b"]},
        },
    }
    assert example_from_schema(openapi) == {
        "n": 3,
        "tags": ["fake tags", "fake tags"],
        "kind": "a",
    }
    shot = example_from_schema(SCRIPT_SCHEMA)["shots"][0]
    assert shot == {"transition": "cut", "end": "fake end"}


# -- images --------------------------------------------------------------------------


@pytest.mark.parametrize("aspect_ratio", ["16:9", "1:1", "9:16"])
def test_image_size_follows_aspect_ratio(fake, gemini, aspect_ratio):
    config = types.GenerateContentConfig(
        response_modalities=["TEXT", "IMAGE"],
        image_config=types.ImageConfig(aspect_ratio=aspect_ratio),
    )
    response = gemini.models.generate_content(
        model="gemini-2.5-flash-image", contents="a red fox", config=config
    )

    picture = image_of(response)
    assert picture.size == image_size(aspect_ratio, scale=0.125)
    assert image_size("16:9") == (1344, 768)
    assert picture.getpixel((0, 0)) == prompt_colour("a red fox")
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.usage_metadata.candidates_token_count == 1290


def test_image_shows_what_was_sent(fake, gemini):
    parts = [
        types.Part.from_bytes(data=png((10, 200, 40)), mime_type="image/png"),
        types.Part.from_bytes(data=png((0, 0, 255)), mime_type="image/png"),
        "keep the fox, change the sky",
    ]
    config = types.GenerateContentConfig(response_modalities=["IMAGE"])
    response = gemini.models.generate_content(
        model="gemini-2.5-flash-image", contents=parts, config=config
    )

    picture = image_of(response)
    # No aspectRatio: the shape of the first input image (64x36 is nearest 16:9).
    assert picture.size == image_size("16:9", scale=0.125)
    left, top, right, bottom = patch_box(*picture.size)
    assert picture.getpixel(((left + right) // 2, (top + bottom) // 2)) == (10, 200, 40)
    assert picture.getpixel((0, 0)) == prompt_colour("keep the fox, change the sky")
    # The SDK sends inlineData as URL-safe base64 under the key "mime_type".
    blob = fake.requests[-1].body["contents"][0]["parts"][0]["inlineData"]
    assert set(blob) == {"data", "mime_type"}


# What the SDK gives for each way of answering an image request without an image:
# - text only: candidates[0].content.parts holds text parts, finish_reason STOP;
# - IMAGE_* / NO_IMAGE: candidates[0].content.parts is None (content has only a role),
#   finish_reason is the FinishReason member, response.text is None;
# - blocked prompt: response.candidates is None (not []), and
#   response.prompt_feedback.block_reason is the BlockedReason member.
# None of these raises. An unknown enum value only warns (UserWarning) and still
# arrives as a pseudo-member whose .value is the string.
@pytest.mark.parametrize(
    "reason", ["IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "NO_IMAGE", "IMAGE_OTHER"]
)
def test_no_image_finish_reasons(fake, gemini, reason):
    fake.fail_next("generateContent", Fault.image_finish(reason))
    response = generate_image(gemini)

    candidate = response.candidates[0]
    assert candidate.finish_reason == types.FinishReason(reason)
    assert candidate.content.parts is None and candidate.content.role == "model"
    assert response.text is None


@pytest.mark.parametrize("reason", ["SAFETY", "PROHIBITED_CONTENT"])
def test_no_image_blocked_prompt(fake, gemini, reason):
    fake.fail_next("generateContent", Fault.prompt_blocked(reason))
    response = generate_image(gemini)

    assert response.candidates is None
    assert response.prompt_feedback.block_reason == types.BlockedReason(reason)


def test_no_image_text_only(fake, gemini):
    fake.fail_next("generateContent", Fault.text_only("I won't draw that."))
    response = generate_image(gemini)

    parts = response.candidates[0].content.parts
    assert [p.inline_data for p in parts] == [None]
    assert response.text == "I won't draw that."
    assert response.candidates[0].finish_reason == types.FinishReason.STOP


def generate_image(client) -> types.GenerateContentResponse:
    config = types.GenerateContentConfig(response_modalities=["IMAGE"])
    return client.models.generate_content(
        model="gemini-2.5-flash-image", contents="a fox", config=config
    )


def test_not_an_image_is_refused(gemini):
    part = types.Part.from_bytes(data=b"not a png", mime_type="image/png")
    with pytest.raises(errors.ClientError) as caught:
        gemini.models.generate_content(model="gemini-2.5-flash-image", contents=[part])
    assert caught.value.code == 400 and caught.value.status == "INVALID_ARGUMENT"
    assert "Unable to process input image" in caught.value.message


def test_bad_base64_is_refused(fake):
    parts = [{"inlineData": {"mimeType": "image/png", "data": "not base64!"}}]
    path = "/v1beta/models/gemini-2.5-flash-image:generateContent"
    status, body = post(fake.base_url, path, {"contents": [{"parts": parts}]})

    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
    assert "Base64 decoding failed" in body["error"]["message"]
    status, body = post(fake.base_url, path, {"contents": []})
    assert status == 400 and "contents" in body["error"]["message"]


# -- errors, faults and keys ---------------------------------------------------------


def test_rate_limit_carries_retry_delay(fake, gemini):
    fake.fail_next("generateContent", Fault.rate_limited(retry_delay="47s"))
    with pytest.raises(errors.ClientError) as caught:
        gemini.models.generate_content(model="gemini-2.5-flash", contents="hi")

    error = caught.value
    assert (error.code, error.status) == (429, "RESOURCE_EXHAUSTED")
    # .details is the whole JSON body, so RetryInfo sits under ["error"]["details"].
    retry = [d for d in error.details["error"]["details"] if "RetryInfo" in d["@type"]]
    assert retry == [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "47s"}
    ]
    # The fault is used up; the SDK does not retry by default (one request only).
    assert gemini.models.generate_content(model="gemini-2.5-flash", contents="hi").text
    assert fake.count("generateContent") == 2


def test_unavailable_is_a_server_error(fake, gemini):
    fake.fail_next("generateContent", Fault.unavailable(), times=2)
    for _ in range(2):
        with pytest.raises(errors.ServerError) as caught:
            gemini.models.generate_content(model="gemini-2.5-flash", contents="hi")
        assert caught.value.code == 503 and caught.value.status == "UNAVAILABLE"
    assert gemini.models.generate_content(model="gemini-2.5-flash", contents="hi")


def test_faults_match_model_and_endpoint(fake, gemini):
    fake.fail_next("generateContent", Fault.unavailable(), model="gemini-2.5-pro")
    assert gemini.models.generate_content(model="gemini-2.5-flash", contents="hi")
    with pytest.raises(errors.ServerError):
        gemini.models.generate_content(model="gemini-2.5-pro", contents="hi")
    with pytest.raises(ValueError, match="does not apply"):
        fake.fail_next("generateContent", Fault.never_finishes())

    teapot = {"error": {"code": 418, "message": "short and stout"}}
    fake.fail_next("generateContent", Fault.raw(teapot, status=418), times=None)
    for _ in range(3):
        with pytest.raises(errors.ClientError) as caught:
            gemini.models.generate_content(model="gemini-2.5-flash", contents="hi")
        assert (caught.value.code, caught.value.message) == (418, "short and stout")
    fake.clear_faults()
    assert gemini.models.generate_content(model="gemini-2.5-flash", contents="hi")


def test_slow_answer_times_out_outside_api_error(fake, gemini):
    fake.fail_next("generateContent", Fault.slow(2))
    config = types.GenerateContentConfig(http_options=types.HttpOptions(timeout=200))
    with pytest.raises(Exception) as caught:
        gemini.models.generate_content(
            model="gemini-2.5-flash", contents="hi", config=config
        )
    # A timeout is the HTTP library's exception (httpx2.ReadTimeout), not APIError.
    assert not isinstance(caught.value, errors.APIError)
    assert "Timeout" in type(caught.value).__name__


def test_sleeps_are_capped_and_close_wakes_them():
    with FakeGoogleAPI(max_sleep=0.2) as fake:
        fake.fail_next("generateContent", Fault.slow(60))
        started = time.monotonic()
        status, _ = post(fake.base_url, FLASH, HI)
        assert status == 200 and time.monotonic() - started < 5

    threads_before = threading.active_count()
    fake = FakeGoogleAPI(max_sleep=60).start()
    fake.fail_next("generateContent", Fault.slow(60))
    caller = threading.Thread(target=post, args=(fake.base_url, FLASH, HI))
    caller.start()
    deadline = time.monotonic() + 5
    while fake.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.in_flight == 1

    started = time.monotonic()
    fake.close()
    caller.join(timeout=10)
    assert time.monotonic() - started < 5 and not caller.is_alive()
    assert threading.active_count() == threads_before


def test_keys_are_checked_and_never_recorded(fake):
    options = types.HttpOptions(base_url=fake.base_url, api_version="v1beta")
    wrong = genai.Client(api_key="wrong-key", http_options=options)
    with pytest.raises(errors.ClientError) as caught:
        wrong.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert (caught.value.code, caught.value.status) == (403, "PERMISSION_DENIED")
    assert caught.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"

    status, body = post(fake.base_url, FLASH, HI, None)
    assert status == 401 and body["error"]["status"] == "UNAUTHENTICATED"
    recorded = fake.requests
    assert [(r.api_key_present, r.api_key_valid) for r in recorded] == [
        (True, False),
        (False, False),
    ]
    assert "wrong-key" not in repr(recorded)


def test_unknown_models_are_not_found(gemini, vertex):
    with pytest.raises(errors.ClientError) as caught:
        gemini.models.generate_content(model="gemini-0-nope", contents="hi")
    assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")
    with pytest.raises(errors.ClientError) as caught:
        vertex.models.generate_videos(model="veo-0-nope", source=source())
    assert caught.value.code == 404


# -- model metadata (models.get: free, checks the key and the model id) --------------

GEMINI_MODEL = "/v1beta/models/gemini-2.5-flash"


def test_models_get_known_models_in_both_modes(fake, gemini, vertex):
    model = gemini.models.get(model="gemini-2.5-flash")
    # Developer API: GET {base}/v1beta/models/{model}, a Model resource.
    assert model.name == "models/gemini-2.5-flash" and model.display_name
    assert "generateContent" in model.supported_actions
    assert model.input_token_limit and model.output_token_limit
    assert gemini.models.get(model="models/gemini-2.5-flash-image").name == (
        "models/gemini-2.5-flash-image"
    )

    # Vertex express mode: GET {base}/v1beta1/publishers/google/models/{model}; of
    # the PublisherModel the SDK keeps only name and version (versionId).
    veo = vertex.models.get(model=VEO)
    assert veo.name == f"publishers/google/models/{VEO}" and veo.version
    assert veo.display_name is None and veo.supported_actions is None

    assert [(r.method, r.path, r.status) for r in fake.requests] == [
        ("GET", GEMINI_MODEL, 200),
        ("GET", "/v1beta/models/gemini-2.5-flash-image", 200),
        ("GET", f"/v1beta1/publishers/google/models/{VEO}", 200),
    ]
    assert fake.count("getModel") == 3
    assert fake.requests[0].model == "gemini-2.5-flash"


@pytest.mark.parametrize(
    ("mode", "model"),
    [
        ("gemini", "gemini-0-nope"),
        ("gemini", VEO),  # the fake serves Veo only in Vertex mode
        ("vertex", "veo-0-nope"),
        ("vertex", "gemini-2.5-flash"),  # and Gemini only on the Developer API
    ],
)
def test_models_get_unknown_model_is_not_found(fake, request, mode, model):
    client = request.getfixturevalue(mode)
    with pytest.raises(errors.ClientError) as caught:
        client.models.get(model=model)
    assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")
    assert model in caught.value.message
    assert fake.count("getModel") == 1


@pytest.mark.parametrize(
    ("vertexai", "model", "api_version"),
    [(False, "gemini-2.5-flash", "v1beta"), (True, VEO, None)],
)
def test_models_get_refuses_a_wrong_key(fake, vertexai, model, api_version):
    options = types.HttpOptions(base_url=fake.base_url, api_version=api_version)
    client = genai.Client(vertexai=vertexai, api_key="wrong-key", http_options=options)
    with pytest.raises(errors.ClientError) as caught:
        client.models.get(model=model)

    error = caught.value
    assert (error.code, error.status) == (403, "PERMISSION_DENIED")
    assert error.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert fake.count("getModel") == 1
    assert "wrong-key" not in repr(fake.requests)


def test_models_get_without_a_key_and_by_post(fake):
    status, body = send("GET", fake.base_url, GEMINI_MODEL, None, key=None)
    assert status == 401 and body["error"]["status"] == "UNAUTHENTICATED"
    status, _ = send("GET", fake.base_url, f"{GEMINI_MODEL}?key={KEY}", None, None)
    assert status == 200
    # The model resource answers GET only.
    assert send("POST", fake.base_url, GEMINI_MODEL, b"{}")[0] == 404
    assert fake.count("getModel") == 3


def test_models_get_takes_faults(fake, gemini):
    fake.fail_next("getModel", Fault.unavailable())
    with pytest.raises(errors.ServerError) as caught:
        gemini.models.get(model="gemini-2.5-flash")
    assert caught.value.code == 503
    assert gemini.models.get(model="gemini-2.5-flash").name
    with pytest.raises(ValueError, match="does not apply"):
        fake.fail_next("getModel", Fault.text_only())


# -- Veo -----------------------------------------------------------------------------


def source(**fields) -> types.GenerateVideosSource:
    image = types.Image(image_bytes=png((200, 30, 30)), mime_type="image/png")
    return types.GenerateVideosSource(**{"prompt": "a fox", "image": image, **fields})


def video_config(**fields) -> types.GenerateVideosConfig:
    return types.GenerateVideosConfig(
        **{"duration_seconds": 4, "aspect_ratio": "16:9", **fields}
    )


def mean_rgb(frame) -> tuple[float, ...]:
    pixels = frame.to_ndarray(format="rgb24")
    return tuple(pixels.reshape(-1, 3).mean(axis=0))


def test_veo_create_poll_done_gives_a_real_mp4(fake, vertex):
    fake.polls_to_finish = 2
    last = types.Image(image_bytes=png((20, 40, 220)), mime_type="image/png")
    operation = vertex.models.generate_videos(
        model=VEO, source=source(), config=video_config(last_frame=last)
    )
    # Express mode posts to v1beta1/publishers/google/models/{model}; the name that
    # comes back is project-scoped, and the SDK polls under that name's prefix.
    created = fake.requests[-1]
    assert created.path == f"/v1beta1/publishers/google/models/{VEO}:predictLongRunning"
    instance = created.body["instances"][0]
    assert set(instance) == {"prompt", "image", "lastFrame"}
    assert operation.done is None and "/operations/" in operation.name

    operation = vertex.operations.get(operation)
    assert operation.done is None  # running: no `done` on the wire
    operation = vertex.operations.get(operation)
    assert operation.done is True and operation.error is None
    assert fake.requests[-1].path.startswith("/v1beta1/projects/fake-project/")

    video = operation.response.generated_videos[0].video
    assert video.mime_type == "video/mp4"
    with av.open(io.BytesIO(video.video_bytes)) as clip:
        stream = clip.streams.video[0]
        assert (stream.width, stream.height) == (128, 72)
        assert clip.duration / av.time_base == pytest.approx(4.0, abs=0.05)
        assert {s.type for s in clip.streams} == {"video", "audio"}
        frames = list(clip.decode(video=0))
    assert len(frames) == 4 * 24
    # 64x36 input padded to 16:9 fills the frame: first frame red, last frame blue.
    assert close_to(mean_rgb(frames[0]), (200, 30, 30))
    assert close_to(mean_rgb(frames[-1]), (20, 40, 220))


def test_veo_project_path_and_veo2_durations(fake):
    path = (
        "/v1beta1/projects/p1/locations/europe-west4/publishers/google/models/"
        "veo-2.0-generate-001:predictLongRunning"
    )
    body = {"instances": [{"prompt": "x"}], "parameters": {"durationSeconds": 5}}
    status, created = post(fake.base_url, path, body)
    assert status == 200
    assert created["name"].startswith("projects/p1/locations/europe-west4/")

    body["parameters"]["durationSeconds"] = 4
    status, refused = post(fake.base_url, path, body)
    assert status == 400 and "5, 6, 7, 8" in refused["error"]["message"]


def test_veo_filtered_operation(fake, vertex):
    fake.fail_next("predictLongRunning", Fault.filtered(["Person generation blocked"]))
    operation = vertex.operations.get(
        vertex.models.generate_videos(model=VEO, source=source(), config=video_config())
    )

    # Done, no error, no videos: only the filter count and reasons.
    assert operation.done is True and operation.error is None
    assert operation.response.generated_videos is None
    assert operation.response.rai_media_filtered_count == 1
    assert operation.response.rai_media_filtered_reasons == [
        "Person generation blocked"
    ]


def test_veo_failed_operation(fake, vertex):
    fake.fail_next("predictLongRunning", Fault.operation_error(3, "Bad image."))
    operation = vertex.operations.get(
        vertex.models.generate_videos(model=VEO, source=source(), config=video_config())
    )

    # The error is a plain dict on the operation; nothing is raised.
    assert operation.done is True and operation.response is None
    assert operation.error == {"code": 3, "message": "Bad image."}


def test_veo_operation_that_never_finishes(fake, vertex):
    fake.fail_next("predictLongRunning", Fault.never_finishes())
    operation = vertex.models.generate_videos(
        model=VEO, source=source(), config=video_config()
    )
    for _ in range(3):
        operation = vertex.operations.get(operation)
        assert not operation.done
    assert fake.count("fetchPredictOperation") == 3


def test_veo_operation_that_vanishes(fake, vertex):
    fake.fail_next("predictLongRunning", Fault.vanishes())
    operation = vertex.models.generate_videos(
        model=VEO, source=source(), config=video_config()
    )
    with pytest.raises(errors.ClientError) as caught:
        vertex.operations.get(operation)
    assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")


def test_veo_last_frame_refused_per_model(fake, vertex):
    fake.refuse_last_frame(VEO)
    last = types.Image(image_bytes=png(), mime_type="image/png")
    with pytest.raises(errors.ClientError) as caught:
        vertex.models.generate_videos(
            model=VEO, source=source(), config=video_config(last_frame=last)
        )
    assert (caught.value.code, caught.value.status) == (400, "FAILED_PRECONDITION")
    assert "not supported" in caught.value.message
    assert vertex.models.generate_videos(
        model="veo-3.1-generate-001", source=source(), config=video_config()
    ).name


@pytest.mark.parametrize(
    ("fields", "config", "message"),
    [
        ({"prompt": None}, {}, "prompt' is required"),
        ({}, {"duration_seconds": 5}, "durationSeconds 5"),
        ({}, {"aspect_ratio": "1:1"}, "16:9 or 9:16"),
    ],
)
def test_veo_invalid_requests(fake, vertex, fields, config, message):
    with pytest.raises(errors.ClientError) as caught:
        vertex.models.generate_videos(
            model=VEO, source=source(**fields), config=video_config(**config)
        )
    assert caught.value.code == 400 and message in caught.value.message
    assert fake.count("predictLongRunning") == 1  # refused, and recorded


def test_veo_bytes_must_be_standard_base64(fake):
    image = {"bytesBase64Encoded": "__79", "mimeType": "image/png"}
    body = {"instances": [{"prompt": "x", "image": image}]}
    path = f"/v1beta1/publishers/google/models/{VEO}:predictLongRunning"
    status, refused = post(fake.base_url, path, body)
    assert status == 400 and "Base64 decoding failed" in refused["error"]["message"]


def test_veo_rate_limited_on_create(fake, vertex):
    fake.fail_next("predictLongRunning", Fault.rate_limited("30s"))
    with pytest.raises(errors.ClientError) as caught:
        vertex.models.generate_videos(model=VEO, source=source(), config=video_config())
    assert caught.value.code == 429


# -- command line --------------------------------------------------------------------


def test_command_line_serves_until_interrupted(tmp_path):
    script = REPO / "scripts" / "fake_google_api.py"
    command = [sys.executable, str(script), "--port", "0", "--api-key", KEY]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            base_url = process.stdout.readline().strip()
            assert base_url.startswith("http://127.0.0.1:")

            status, _ = post(base_url, FLASH, HI)
            assert status == 200
        finally:
            process.send_signal(signal.SIGINT)  # as Ctrl-C
            assert process.wait(timeout=10) == 0


def test_veo_reference_images_only_where_supported(fake, vertex):
    asset = types.VideoGenerationReferenceImage(
        image=types.Image(image_bytes=png(), mime_type="image/png"),
        reference_type="ASSET",
    )
    config = video_config(reference_images=[asset])
    assert vertex.models.generate_videos(
        model=VEO, source=source(image=None), config=config
    ).name
    sent = fake.requests[-1].body["instances"][0]["referenceImages"]
    assert sent[0]["referenceType"] == "ASSET"

    for model, fields in [("veo-3.0-generate-001", {"image": None}), (VEO, {})]:
        with pytest.raises(errors.ClientError) as caught:
            vertex.models.generate_videos(
                model=model, source=source(**fields), config=config
            )
        assert "referenceImages are not supported" in caught.value.message
