"""Loopback fake of Google's generative API, for ttv's tests and offline trials.

The code lives in the package `scripts/fakegoogle/` (its docstring maps the modules);
this module keeps the old import path and the command line working:

    from scripts.fake_google_api import FakeGoogleAPI, Fault

    python scripts/fake_google_api.py --port 8765
"""

from __future__ import annotations

if __package__:  # imported as scripts.fake_google_api: re-export the package's API
    from .fakegoogle import *  # noqa: F403
    from .fakegoogle import (
        __all__,  # noqa: F401  (the same names, for star imports)
        main,
    )
else:  # run as a file: its own folder, scripts/, is sys.path[0]
    from fakegoogle import main

if __name__ == "__main__":
    raise SystemExit(main())
