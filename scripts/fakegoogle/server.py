"""The fake's HTTP server: routing, API keys, queued faults and the request log."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .content import default_script_reply, default_text_reply
from .faults import FAULT_ENDPOINTS, ApiError, Fault, QueuedFault, RawReply, invalid
from .gemini import DeveloperApi
from .validation import IMAGE_MODELS, TEXT_MODELS, VEO_MODELS
from .vertex import Operation, VertexApi

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it. The API key itself is never kept."""

    method: str
    path: str
    endpoint: str | None
    model: str | None
    body: Any
    headers: dict[str, str]
    api_key_present: bool
    api_key_valid: bool
    status: int
    received: float = 0.0  # time.monotonic() when the request arrived


# A path without a `:method` suffix is the model resource itself: models.get.
_DEVELOPER = re.compile(r"^/(?:v1|v1beta)/models/([^/:]+)(?::(generateContent))?$")
_VERTEX = re.compile(
    r"^/(?:v1|v1beta1)/(?:projects/([^/]+)/locations/([^/]+)/)?"
    r"publishers/google/models/([^/:]+)"
    r"(?::(predictLongRunning|fetchPredictOperation))?$"
)


@dataclass(frozen=True)
class _Route:
    endpoint: str
    model: str
    vertex: bool
    project: str | None = None
    location: str | None = None

    @property
    def method(self) -> str:
        return "GET" if self.endpoint == "getModel" else "POST"


def _route(path: str) -> _Route | None:
    """Endpoint, model and API for a path the fake serves, else None."""
    if m := _DEVELOPER.match(path):
        return _Route(m.group(2) or "getModel", m.group(1), vertex=False)
    if m := _VERTEX.match(path):
        endpoint = m.group(4) or "getModel"
        return _Route(endpoint, m.group(3), True, m.group(1), m.group(2))
    return None


class FakeGoogleAPI(DeveloperApi, VertexApi):
    """A loopback server speaking enough of Google's API for the google-genai SDK.

    Set `script_reply(request) -> dict` / `text_reply(request) -> str` to choose text
    replies; queue misbehaviour with `fail_next`; read `requests` and `count`.
    """

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        port: int = 0,
        polls_to_finish: int = 1,
        image_scale: float = 1.0,
        video_scale: float = 1.0,
        max_sleep: float = 10.0,
        project: str = "fake-project",
        location: str = "us-central1",
    ):
        self.api_key, self.port = api_key, port
        self.polls_to_finish = polls_to_finish
        self.image_scale, self.video_scale = image_scale, video_scale
        self.max_sleep = max_sleep
        self.project, self.location = project, location
        self.text_models = set(TEXT_MODELS)
        self.image_models = set(IMAGE_MODELS)
        self.veo_models = dict(VEO_MODELS)
        self.script_reply: Callable[[dict], dict] = default_script_reply
        self.text_reply: Callable[[dict], str] = default_text_reply
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._log: list[RecordedRequest] = []
        self._in_flight = 0
        self._faults: list[QueuedFault] = []
        self._operations: dict[str, Operation] = {}
        self._last_frame_refusals: dict[str, ApiError] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> FakeGoogleAPI:
        """Bind 127.0.0.1 and serve on a background thread."""
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.fake = self
        self._server, self.port = server, server.server_address[1]
        self._stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; wake sleeping handlers and wait for every thread to end."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()  # joins the handler threads
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FakeGoogleAPI:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        """What to pass as HttpOptions(base_url=...)."""
        return f"http://127.0.0.1:{self.port}"

    # -- configuration

    def fail_next(
        self, endpoint: str, fault: Fault, *, model: str | None = None, times=1
    ) -> None:
        """Queue `fault` for the next `times` valid requests to `endpoint` (None: all).

        Requests that fail validation do not consume a fault. Faults are tried in the
        order queued; the first one whose endpoint and model match is used.
        """
        if endpoint not in FAULT_ENDPOINTS[fault.kind]:
            raise ValueError(f"fault {fault.kind!r} does not apply to {endpoint!r}")
        with self._lock:
            self._faults.append(QueuedFault(endpoint, model, fault, times))

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    def refuse_last_frame(
        self, model: str, status: str = "FAILED_PRECONDITION", message: str = ""
    ) -> None:
        """Make `model` answer 400 whenever instances[0].lastFrame is sent."""
        message = message or (
            f"The use case of generating a video from a first and a last frame is "
            f"not supported by {model}."
        )
        self._last_frame_refusals[model] = ApiError(400, status, message)

    # -- inspection

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, oldest first (a copy)."""
        with self._lock:
            return list(self._log)

    @property
    def in_flight(self) -> int:
        """How many requests are being answered right now (e.g. sleeping)."""
        with self._lock:
            return self._in_flight

    def count(self, endpoint: str) -> int:
        """How many requests reached `endpoint` (e.g. "predictLongRunning")."""
        return sum(1 for r in self.requests if r.endpoint == endpoint)

    # -- request handling (called from handler threads)

    def handle(self, method: str, raw_path: str, headers, raw_body: bytes):
        """Answer one HTTP request: (status, JSON body). Records it."""
        received = time.monotonic()
        url = urlsplit(raw_path)
        key = headers.get("x-goog-api-key") or parse_qs(url.query).get("key", [None])[0]
        route = _route(url.path)
        endpoint, model = (route.endpoint, route.model) if route else (None, None)
        body: Any = None
        with self._lock:
            self._in_flight += 1
        try:
            body = self._parse(method, route, key, raw_body)
            status, reply = 200, self._answer(route, body)
        except ApiError as error:
            status, reply = error.code, error.body()
        except HangUp:
            status, reply = 0, {}  # the handler closes the connection unanswered
        finally:
            with self._lock:
                self._in_flight -= 1
        kept = {k.lower(): v for k, v in headers.items()}
        kept.pop("x-goog-api-key", None)
        kept.pop("authorization", None)
        record = RecordedRequest(
            method=method,
            path=url.path,
            endpoint=endpoint,
            model=model,
            body=body,
            headers=kept,
            api_key_present=key is not None,
            api_key_valid=key == self.api_key,
            status=status,
            received=received,
        )
        with self._lock:
            self._log.append(record)
        return status, reply

    def _parse(self, method, route: _Route | None, key, raw_body: bytes) -> dict:
        if route is None or method != route.method:
            raise ApiError(404, "NOT_FOUND", "The requested URL was not found.")
        if key is None:
            message = "Request is missing required authentication credential: API key."
            raise ApiError(401, "UNAUTHENTICATED", message)
        if key != self.api_key:
            info = {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
            }
            message = "API key not valid. Please pass a valid API key."
            raise ApiError(403, "PERMISSION_DENIED", message, [info])
        try:
            body = json.loads(raw_body or b"{}")
        except ValueError:
            raise invalid("Invalid JSON payload received.") from None
        if not isinstance(body, dict):
            raise invalid("Invalid JSON payload received: expected an object.")
        return body

    def _take_fault(self, endpoint: str, model: str) -> Fault | None:
        with self._lock:
            for queued in self._faults:
                if queued.endpoint == endpoint and queued.model in (None, model):
                    if queued.remaining is not None:
                        queued.remaining -= 1
                        if queued.remaining <= 0:
                            self._faults.remove(queued)
                    return queued.fault
        return None

    def _answer(self, route: _Route, body: dict) -> dict:
        endpoint, model = route.endpoint, route.model
        if route.vertex:
            checked = self._validate_vertex(endpoint, model, body)
        else:
            checked = self._validate_gemini(endpoint, model, body)
        fault = self._take_fault(endpoint, model)
        if fault is not None and fault.kind == "error":
            raise fault.params["error"]
        if fault is not None and fault.kind == "raw":
            if fault.params["status"] != 200:
                raise RawReply(fault.params["status"], fault.params["body"])
            return fault.params["body"]
        if fault is not None and fault.kind == "slow":
            self._stopping.wait(min(fault.params["seconds"], self.max_sleep))
            fault = None
        hang_up = fault is not None and fault.kind == "hang_up"
        if hang_up:
            fault = None
        if endpoint == "getModel" and route.vertex:
            return self._publisher_model(model)
        if endpoint == "getModel":
            return self._gemini_model(model)
        if endpoint == "generateContent":
            return self._generate_content(model, body, checked, fault)
        if endpoint == "predictLongRunning":
            project, location = route.project, route.location
            reply = self._create_operation(model, project, location, body, fault)
            if hang_up:
                raise HangUp()
            return reply
        if hang_up:
            raise HangUp()
        return self._poll_operation(model, body)


class HangUp(Exception):
    """Raised inside the fake to close a connection without answering."""


class _Server(ThreadingHTTPServer):
    # Non-daemon handler threads, so server_close() waits for each to finish.
    daemon_threads = False
    block_on_close = True
    fake: FakeGoogleAPI


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so no idle keep-alive thread outlives
    # close(). A stalled client is dropped after `timeout` seconds.
    protocol_version = "HTTP/1.0"
    server_version = "FakeGoogleAPI/1"
    timeout = 30

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(413, {"error": {"code": 413, "message": "Request too large."}})
            return
        raw = self.rfile.read(length)
        try:
            status, reply = self.server.fake.handle(
                self.command, self.path, self.headers, raw
            )
        except Exception as exc:  # a bug in the fake: say so instead of hanging up
            log.exception("fake Google API failed on %s", self.path)
            status, reply = 500, ApiError(500, "INTERNAL", f"fake: {exc!r}").body()
        if status == 0:
            self.close_connection = True  # Fault.hang_up: no answer at all
            return
        self._send(status, reply)

    def _send(self, status: int, reply: dict) -> None:
        data = json.dumps(reply).encode()
        # OSError: the client gave up (its timeout was shorter than a slow fault).
        with contextlib.suppress(OSError):
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args) -> None:
        log.info("%s %s", self.address_string(), format % args)
