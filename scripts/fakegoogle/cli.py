"""Loopback fake of Google's generative API, for ttv's tests and offline trials.

The command line serves it until Ctrl-C:

    python scripts/fake_google_api.py --port 8765
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import threading

from .server import FakeGoogleAPI


def main(argv: list[str] | None = None) -> int:
    """Serve the fake from the command line until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--api-key", default="test-key", help="the key clients must send"
    )
    parser.add_argument(
        "--polls", type=int, default=1, help="polls until a Veo job is done"
    )
    parser.add_argument("--image-scale", type=float, default=1.0)
    parser.add_argument("--video-scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    fake = FakeGoogleAPI(
        api_key=args.api_key,
        port=args.port,
        polls_to_finish=args.polls,
        image_scale=args.image_scale,
        video_scale=args.video_scale,
    )
    with fake:
        print(fake.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0
