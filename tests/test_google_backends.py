"""The Google backends through the real google-genai SDK, against the loopback fake."""

from __future__ import annotations

import json
import time

import pytest

from scripts.fake_google_api import FakeGoogleAPI, Fault
from ttv.config import load_config
from ttv.errors import BackendError, ConfigError, RunError
from ttv.media.probe import probe
from ttv.pipeline import run

ENV = (
    "GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_ENTERPRISE",
    "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION",
)  # fmt: skip

STORY = """\
title: On the wire
prompt: Eileen lands on the beach. She looks at the sea. Later, Chelsea waits.
characters:
  - {{id: eileen, name: Eileen, description: astronaut, reference: refs/astronaut.png}}
  - {{id: chelsea, name: Chelsea, description: a cat, reference: refs/chelsea.png}}
script:
  backend: gemini
  base_url: {url}
  api_version: v1beta
  thinking_budget: 0
keyframes:
  backend: gemini
  base_url: {url}
  api_version: v1beta
  max_wait: 5
clips:
  backend: veo
  model: veo-3.1-fast-generate-001
  base_url: {url}
  duration: 4
  poll_interval: 0.05
  poll_timeout: {poll_timeout}
  max_wait: 5
output: {{width: 128, height: 72, fps: 12}}
"""


@pytest.fixture
def fake(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    with FakeGoogleAPI(api_key="test-key", image_scale=0.1, video_scale=0.1) as server:
        yield server


@pytest.fixture
def google_config(fake, write_config):
    def make(poll_timeout: float = 30, extra: str = "") -> object:
        text = STORY.format(url=fake.base_url, poll_timeout=poll_timeout) + extra
        return write_config(text)

    return make


def render(path, out, **kw):
    return run(load_config(path), run_dir=out, progress=False, **kw)


def test_story_renders_end_to_end_through_the_sdk(fake, google_config, tmp_path):
    result = render(google_config(), tmp_path / "run")
    shots = result.summary["shots"]
    assert (
        shots == len(fake.script_reply_shots)
        if hasattr(fake, "script_reply_shots")
        else shots >= 2
    )
    info = probe(result.final)
    assert info.frame_count == result.summary["frames"]
    assert (info.width, info.height, info.fps) == (128, 72, 12)
    assert fake.count("predictLongRunning") == shots
    keyframe_calls = [r for r in fake.requests if r.endpoint == "generateContent"]
    assert len(keyframe_calls) == 1 + result.summary["keyframes"]  # script + keyframes
    assert all(r.api_key_valid for r in fake.requests)
    # The keyframe request labels each image it sends.
    body = keyframe_calls[-1].body
    texts = [p.get("text", "") for p in body["contents"][0]["parts"]]
    assert any(t.startswith("Previous keyframe") for t in texts)
    assert result.summary["spent_total_usd"] > 0
    # A rerun sends nothing at all.
    before = len(fake.requests)
    again = render(google_config(), tmp_path / "run")
    assert len(fake.requests) == before
    assert again.summary["backend_calls"] == {}


def test_rate_limit_retries_after_the_servers_delay(fake, google_config, tmp_path):
    fake.fail_next("generateContent", Fault.rate_limited(retry_delay="1s"))
    render(google_config(), tmp_path / "run", stop_after="script")
    first, second = [r for r in fake.requests if r.endpoint == "generateContent"][:2]
    assert first.status == 429 and second.status == 200
    assert second.received - first.received >= 0.95


def test_client_errors_are_not_retried(fake, google_config, tmp_path):
    fake.fail_next("generateContent", Fault.error(400, "INVALID_ARGUMENT", "bad thing"))
    with pytest.raises(BackendError, match="bad thing"):
        render(google_config(), tmp_path / "run", stop_after="script")
    assert fake.count("generateContent") == 1


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Fault.text_only(), "text only"),
        (Fault.image_finish("IMAGE_SAFETY"), "IMAGE_SAFETY"),
        (Fault.image_finish("NO_IMAGE"), "NO_IMAGE"),
        (
            Fault.prompt_blocked("PROHIBITED_CONTENT"),
            "prompt blocked: PROHIBITED_CONTENT",
        ),
    ],
)
def test_no_image_names_the_shot_and_reason(
    fake, google_config, tmp_path, fault, reason
):
    render(google_config(), tmp_path / "run", stop_after="script")
    fake.fail_next("generateContent", fault)
    with pytest.raises(BackendError) as caught:
        render(google_config(), tmp_path / "run", stop_after="keyframes")
    assert "keyframe shot01 start" in str(caught.value)
    assert reason in str(caught.value)


def test_filtered_clip_is_its_own_outcome(fake, google_config, tmp_path):
    fake.fail_next("predictLongRunning", Fault.filtered(["Person generation blocked."]))
    with pytest.raises(BackendError, match="filtered.*Person generation blocked"):
        render(google_config(), tmp_path / "run")
    journal = (tmp_path / "run" / "journal.jsonl").read_text()
    assert '"filtered"' in journal


def test_unfinished_operation_is_polled_again_on_resume(fake, google_config, tmp_path):
    fake.fail_next("predictLongRunning", Fault.never_finishes())
    with pytest.raises(RunError, match="did not finish"):
        render(google_config(poll_timeout=0.5), tmp_path / "run")
    creates = fake.count("predictLongRunning")
    saved = [
        json.loads(line)
        for line in (tmp_path / "run" / "journal.jsonl").read_text().splitlines()
    ]
    assert any(e["event"] == "operation" for e in saved)
    polls = fake.count("fetchPredictOperation")
    # The resumed run polls the saved operation again and creates no second job.
    with pytest.raises(RunError, match="did not finish"):
        render(google_config(poll_timeout=0.5), tmp_path / "run")
    assert fake.count("predictLongRunning") == creates
    assert fake.count("fetchPredictOperation") > polls


def test_missing_key_fails_before_any_request(
    fake, google_config, tmp_path, monkeypatch
):
    monkeypatch.delenv("GEMINI_API_KEY")
    with pytest.raises(ConfigError, match="GEMINI_API_KEY"):
        render(google_config(), tmp_path / "run")
    assert fake.requests == []


def test_rejected_key_says_what_to_set(fake, google_config, tmp_path, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "wrong-key")
    with pytest.raises(ConfigError, match="rejected") as caught:
        render(google_config(), tmp_path / "run")
    assert "wrong-key" not in str(caught.value)


def test_budget_stops_before_the_call_that_would_exceed_it(
    fake, google_config, tmp_path
):
    path = google_config(extra="budget_usd: 0.1\n")
    with pytest.raises(RunError, match="budget"):
        render(path, tmp_path / "run")
    assert fake.count("predictLongRunning") == 0  # a 4 s Veo clip costs $0.40


def test_literal_key_in_config_is_refused_without_echo(google_config):
    path = google_config(extra="")
    text = path.read_text().replace("  thinking_budget: 0", "  api_key: AIzaFAKE123")
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "script.api_key" in str(caught.value)
    assert "AIzaFAKE123" not in str(caught.value)


def test_plan_prices_the_run_and_spends_nothing(fake, google_config, tmp_path):
    from ttv.dry_run import ASSUMED_SHOTS, dry_run

    path = google_config()
    plan = dry_run(load_config(path), tmp_path / "run")
    assert fake.requests == []
    assert plan["script_call"] and not plan["script_known"]
    assert plan["calls"] == {"script": 1, "keyframes": 2 * ASSUMED_SHOTS, "clips": 6}
    veo = 6 * 4 * 0.10  # six 4 s clips of veo-3.1-fast without audio
    keyframes = 12 * 0.039
    assert plan["cost_usd"] == pytest.approx(veo + keyframes, abs=0.02)

    render(path, tmp_path / "run")
    again = dry_run(load_config(path), tmp_path / "run")
    assert again["calls"] == {"script": 0, "keyframes": 0, "clips": 0}
    assert again["cost_usd"] == 0


def test_refused_last_frame_falls_back_to_first_frame_chaining(
    fake, google_config, tmp_path, caplog
):
    fake.refuse_last_frame("veo-3.1-fast-generate-001")
    result = render(google_config(), tmp_path / "run")
    refusals = [m for m in caplog.messages if "refused a last frame" in m]
    assert len(refusals) == 1  # said once per run
    creates = [r for r in fake.requests if r.endpoint == "predictLongRunning"]
    accepted = [r for r in creates if r.status == 200]
    assert all("lastFrame" not in r.body["instances"][0] for r in accepted)
    assert len(accepted) == result.summary["shots"]
    assert probe(result.final).frame_count == result.summary["frames"]
    # A later run in this directory remembers, and sends no last frame at all.
    before = fake.count("predictLongRunning")
    render(google_config(), tmp_path / "run")
    assert fake.count("predictLongRunning") == before


def wait_idle(fake, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while fake.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)


def with_option(path, stage: str, option: str):
    """Add `option` (a 'key: value' line) to a stage section of a config file."""
    text = path.read_text().replace(f"{stage}:\n", f"{stage}:\n  {option}\n", 1)
    path.write_text(text)
    return path


def test_server_errors_are_retried_with_backoff(fake, google_config, tmp_path):
    fake.fail_next("generateContent", Fault.unavailable(), times=2)
    render(google_config(), tmp_path / "run", stop_after="script")
    statuses = [r.status for r in fake.requests if r.endpoint == "generateContent"]
    assert statuses == [503, 503, 200]


def test_timed_out_request_is_retried(fake, google_config, tmp_path):
    path = with_option(google_config(), "keyframes", "timeout: 0.5")
    render(path, tmp_path / "run", stop_after="script")
    fake.fail_next("generateContent", Fault.slow(2))
    render(path, tmp_path / "run", stop_after="keyframes")
    wait_idle(fake)  # the timed-out request is recorded once the fake answers it
    first = [r for r in fake.requests if r.endpoint == "generateContent"][1:]
    assert len(first) == 1 + sum(1 for _ in (tmp_path / "run" / "keyframes").iterdir())


def test_timed_out_veo_create_is_not_resent(fake, google_config, tmp_path):
    path = with_option(google_config(), "clips", "timeout: 0.5")
    fake.fail_next("predictLongRunning", Fault.slow(2))
    with pytest.raises(RunError, match="may have started a job"):
        render(path, tmp_path / "run")
    wait_idle(fake)
    slow = [r for r in fake.requests if r.endpoint == "predictLongRunning"]
    # The timed-out create went out once; the other shots' creates went ahead.
    assert len({r.body["instances"][0]["prompt"] for r in slow}) == len(slow)


def test_failed_operation_is_reported_with_the_providers_reason(
    fake, google_config, tmp_path
):
    fake.fail_next("predictLongRunning", Fault.operation_error(13, "Internal error."))
    with pytest.raises(
        BackendError, match="shot01.*Veo failed the job.*Internal error"
    ):
        render(google_config(), tmp_path / "run")


def test_vanished_operation_is_made_anew_on_the_next_run(fake, google_config, tmp_path):
    fake.fail_next("predictLongRunning", Fault.vanishes())
    with pytest.raises(BackendError, match="no longer knows operation"):
        render(google_config(), tmp_path / "run")
    creates = fake.count("predictLongRunning")
    result = render(google_config(), tmp_path / "run")
    assert fake.count("predictLongRunning") == creates + 1  # only the lost clip
    assert result.final is not None


def test_invalid_script_reply_is_asked_again(fake, google_config, tmp_path, caplog):
    fake.fail_next("generateContent", Fault.invalid_json())
    result = render(google_config(), tmp_path / "run", stop_after="script")
    assert fake.count("generateContent") == 2
    assert result.summary["shots"] >= 1
    assert any("invalid reply" in m for m in caplog.messages)


def test_empty_script_replies_fail_clearly(fake, google_config, tmp_path):
    fake.fail_next("generateContent", Fault.empty_reply(), times=3)
    with pytest.raises(BackendError, match="no valid script after 3 tries.*empty"):
        render(google_config(), tmp_path / "run", stop_after="script")


def test_softened_retry_after_a_refusal(fake, google_config, tmp_path):
    path = with_option(google_config(), "keyframes", "soften_retries: 1")
    render(path, tmp_path / "run", stop_after="script")
    fake.fail_next("generateContent", Fault.image_finish("IMAGE_SAFETY"))
    render(path, tmp_path / "run", stop_after="keyframes")
    refused, retried = [r for r in fake.requests if r.endpoint == "generateContent"][
        1:3
    ]
    last_text = retried.body["contents"][0]["parts"][-1]["text"]
    assert "family friendly" in last_text
    assert refused.body["contents"][0]["parts"][-1]["text"] in last_text


def test_keys_never_reach_the_run_directory(fake, google_config, tmp_path, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", fake.api_key)
    render(google_config(), tmp_path / "run")
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            assert fake.api_key.encode() not in path.read_bytes(), path


def test_video_concurrency_limit_holds(fake, google_config, tmp_path):
    shot = {"transition": "cut", "characters": ["eileen"], "motion": "pan left"}
    fake.script_reply = lambda request: {
        "title": "Four",
        "shots": [
            {**shot, "start": f"s{i}", "end": f"e{i}", "duration": 4} for i in range(4)
        ],
    }
    fake.polls_to_finish = 4
    render(google_config(), tmp_path / "run", stop_after="keyframes")
    result = render(google_config(), tmp_path / "run")  # all four clips ready at once
    assert result.summary["shots"] == 4
    events = [
        (r.received, +1) for r in fake.requests if r.endpoint == "predictLongRunning"
    ]
    last_poll: dict[str, float] = {}
    for r in fake.requests:
        if r.endpoint == "fetchPredictOperation":
            last_poll[r.body["operationName"]] = r.received
    events += [(t, -1) for t in last_poll.values()]
    running = peak = 0
    for _, step in sorted(events):
        running += step
        peak = max(peak, running)
    assert peak == 2


def test_create_that_got_no_answer_is_never_resent_on_its_own(
    fake, google_config, tmp_path
):
    fake.fail_next("predictLongRunning", Fault.hang_up())
    with pytest.raises(RunError, match="no answer.*--resubmit"):
        render(google_config(), tmp_path / "run")
    wait_idle(fake)
    hung = [r for r in fake.requests if r.endpoint == "predictLongRunning"][0]
    prompt = hung.body["instances"][0]["prompt"]
    with pytest.raises(
        RunError, match="an earlier run sent this clip's create request"
    ):
        render(google_config(), tmp_path / "run")
    assert sum(
        1 for r in fake.requests
        if r.endpoint == "predictLongRunning" and r.body["instances"][0]["prompt"] == prompt
    ) == 1  # fmt: skip
    result = render(google_config(), tmp_path / "run", resubmit=True)
    assert result.final is not None


def test_rejected_key_while_polling_keeps_the_job(fake, google_config, tmp_path):
    fake.fail_next("fetchPredictOperation", Fault.error(403, "PERMISSION_DENIED", "no"))
    with pytest.raises(ConfigError, match="rejected"):
        render(google_config(), tmp_path / "run")
    assert '"lost"' not in (tmp_path / "run" / "journal.jsonl").read_text()
    result = render(google_config(), tmp_path / "run")
    assert fake.count("predictLongRunning") == result.summary["shots"]


def test_failed_job_is_submitted_anew_on_the_next_run(fake, google_config, tmp_path):
    fake.fail_next("predictLongRunning", Fault.operation_error(13, "Please retry."))
    with pytest.raises(BackendError, match="Please retry"):
        render(google_config(), tmp_path / "run")
    result = render(google_config(), tmp_path / "run")
    assert result.final is not None
    assert fake.count("predictLongRunning") == result.summary["shots"] + 1


def test_budget_covers_every_run_of_a_run_directory(fake, google_config, tmp_path):
    # Five keyframes at $0.039 and three 4 s clips at $0.40: $1.395 in all.
    fake.script_reply = lambda request: {
        "title": "Three",
        "shots": [
            {"transition": "cut", "characters": ["eileen"], "start": "a", "end": "b",
             "motion": "pan", "duration": 4},
            {"transition": "continue", "characters": ["eileen"], "end": "c",
             "motion": "pan", "duration": 4},
            {"transition": "cut", "characters": ["chelsea"], "start": "d", "end": "e",
             "motion": "pan", "duration": 4},
        ],
    }  # fmt: skip
    path = google_config(extra="budget_usd: 1.05\n")  # script estimate: $0.01
    first = render(path, tmp_path / "run", stop_after="keyframes")
    assert first.summary["spent_usd"]["keyframes"] == pytest.approx(5 * 0.039)
    with pytest.raises(RunError, match="budget"):
        render(path, tmp_path / "run")
    with pytest.raises(RunError, match="budget"):
        render(path, tmp_path / "run")  # running again does not reset the budget
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert sum(manifest["spent_usd"].values()) <= 1.05 + 1e-9
    assert fake.count("predictLongRunning") == 2  # the third clip would pass $1.05


def test_a_reply_asked_for_again_is_paid_for(fake, google_config, tmp_path):
    fake.fail_next("generateContent", Fault.invalid_json())
    result = render(google_config(), tmp_path / "run", stop_after="script")
    writer_estimate = result.summary["spent_usd"]["script"] / 2
    assert writer_estimate > 0  # two replies were paid for, one was usable


def test_cast_written_by_name_still_gets_its_references(fake, google_config, tmp_path):
    fake.script_reply = lambda request: {
        "title": "Names",
        "shots": [
            {"transition": "cut", "characters": ["Eileen", "Chelsea the cat", "Bob"],
             "start": "a", "end": "b", "motion": "pan", "duration": 4},
        ],
    }  # fmt: skip
    render(google_config(), tmp_path / "run", stop_after="keyframes")
    script = (tmp_path / "run" / "script.yaml").read_text()
    assert "- eileen" in script and "- chelsea" in script and "Bob" not in script
    first = [r for r in fake.requests if r.endpoint == "generateContent"][1]
    images = [p for p in first.body["contents"][0]["parts"] if "inlineData" in p]
    assert len(images) == 2  # both references (no previous keyframe yet)
