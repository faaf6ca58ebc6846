"""The `ttv` command line. The only place that turns errors into exit codes.

Exit codes: 0 done, 1 failed run, 2 bad config or usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from pathlib import Path

from tqdm import tqdm

from ttv import __version__
from ttv.errors import TTVError, UsageError

log = logging.getLogger("ttv")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `ttv` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose - args.quiet)
    try:
        return args.func(args)
    except TTVError as exc:
        print(f"ttv: error: {exc}", file=sys.stderr)
        if args.verbose and exc.__cause__ is not None:
            traceback.print_exception(exc.__cause__, file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(
            "ttv: interrupted; finished artifacts are cached, run again to continue",
            file=sys.stderr,
        )
        return 130
    except Exception as exc:  # a bug in ttv: say so plainly, traceback only with -v
        print(f"ttv: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if args.verbose:
            traceback.print_exc()
        else:
            print(
                "ttv: run again with -v for the traceback, and report it",
                file=sys.stderr,
            )
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ttv", description="One story prompt in, one finished video out."
    )
    parser.add_argument("--version", action="version", version=f"ttv {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="debug log: ffmpeg commands, request summaries, tracebacks",
    )
    common.add_argument(
        "-q", "--quiet", action="count", default=0, help="only warnings and errors"
    )
    common.add_argument("--no-progress", action="store_true", help="hide progress bars")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", parents=[common], help="render a pipeline config")
    run.add_argument("config", type=Path, help="pipeline YAML file")
    run.add_argument("--prompt", help="story prompt (overrides the config's prompt)")
    run.add_argument(
        "--out", help="run directory (default: output.dir or output/<name>)"
    )
    _stop_after(run)
    _resubmit(run)
    run.set_defaults(func=_cmd_run)

    plan = sub.add_parser(
        "plan", parents=[common], help="show shots, calls and cost; spend nothing"
    )
    plan.add_argument("config", type=Path, help="pipeline YAML file")
    plan.add_argument("--prompt", help="story prompt (overrides the config's prompt)")
    plan.add_argument("--out", help="run directory whose cache counts as done")
    plan.add_argument("--json", action="store_true", help="print JSON for scripts")
    plan.set_defaults(func=_cmd_plan)

    _batch_parser(sub, common)

    resume = sub.add_parser(
        "resume", parents=[common], help="continue a run from its own frozen config"
    )
    resume.add_argument("run_dir", type=Path, help="a run directory made by `ttv run`")
    _stop_after(resume)
    _resubmit(resume)
    resume.set_defaults(func=_cmd_resume)
    return parser


def _batch_parser(sub, common: argparse.ArgumentParser) -> None:
    batch = sub.add_parser(
        "batch",
        parents=[common],
        help="render a queue folder of story files; `batch status QUEUE` shows it",
        description="ttv batch QUEUE renders every pending story in the folder; "
        "ttv batch status QUEUE prints the queue.",
    )
    batch.add_argument(
        "words", nargs="+", metavar="QUEUE", help="a queue folder, or: status QUEUE"
    )
    batch.add_argument("--watch", action="store_true", help="keep taking new stories")
    batch.add_argument("--jobs", type=int, default=2, help="stories at once (2)")
    batch.add_argument(
        "--retries", type=int, default=2, help="retries of a failed story"
    )
    batch.add_argument("--budget-usd", type=float, help="stop new paid calls past this")
    batch.add_argument("--lease", type=float, default=60.0, help="lease seconds (60)")
    batch.add_argument(
        "--retry-failed", action="store_true", help="try failed stories again"
    )
    batch.add_argument("--json", action="store_true", help="status as JSON")
    batch.set_defaults(func=_cmd_batch)


def _resubmit(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--resubmit",
        action="store_true",
        help="submit again clips whose earlier create request got no answer (it may "
        "have started a billed job: check the provider's console first)",
    )


def _stop_after(parser: argparse.ArgumentParser) -> None:
    from ttv.plan import STOP_POINTS

    parser.add_argument(
        "--stop-after",
        choices=STOP_POINTS,
        help="stop after this stage (review keyframes before paying for video)",
    )


def _cmd_run(args: argparse.Namespace) -> int:
    from ttv.config import load_config
    from ttv.pipeline import run

    config = load_config(args.config, prompt=args.prompt, out=args.out)
    result = run(
        config,
        stop_after=args.stop_after,
        progress=not args.no_progress,
        resubmit=args.resubmit,
    )
    _print_summary(result.summary)
    return 0


def _cmd_resume(args: argparse.Namespace) -> int:
    from ttv.config import load_config
    from ttv.pipeline import run

    frozen = args.run_dir / "config.yaml"
    if not frozen.is_file():
        raise UsageError(
            f"{args.run_dir} is not a ttv run directory (no config.yaml in it); "
            "pass the folder that `ttv run` printed"
        )
    config = load_config(frozen, out=str(args.run_dir))
    result = run(
        config,
        stop_after=args.stop_after,
        progress=not args.no_progress,
        resubmit=args.resubmit,
    )
    _print_summary(result.summary)
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    import json

    from ttv.config import load_config
    from ttv.dry_run import dry_run

    config = load_config(args.config, prompt=args.prompt, out=args.out)
    plan = dry_run(config, Path(args.out) if args.out else None)
    if args.json:
        print(json.dumps(plan, indent=2))
        return 0
    b = plan["backends"]
    print(f'ttv plan: "{plan["title"]}" into {plan["run_dir"]}')
    print(
        "  backends "
        + ", ".join(f"{s} {v['name']} ({v['model']})" for s, v in b.items())
    )
    if plan["script_call"]:
        known = (
            ""
            if plan["script_known"]
            else f" (shots below assume {len(plan['shots'])})"
        )
        print(f"  script   1 call, about ${plan['script_cost_usd']:.2f}{known}")
    print(
        f"  {'shot':<8}{'trans.':<10}{'s':>5}{'frames':>8}  {'keyframes':<10}"
        f"{'clip':<7}{'cost':>8}  characters"
    )
    for r in plan["shots"]:
        print(
            f"  {r['shot']:<8}{r['transition']:<10}{r['seconds']:>5g}{r['frames']:>8}  "
            f"{str(r['new_keyframes']) + ' new':<10}{'new' if r['new_clip'] else 'cached':<7}"
            f"{_usd(r['cost_usd']):>8}  {', '.join(r['characters'])}"
        )
    calls = plan["calls"]
    print(
        f"  total    {plan['frames']} frames = {plan['seconds']:g} s; calls: script "
        f"{calls['script']}, keyframes {calls['keyframes']}, clips {calls['clips']}; "
        f"about ${plan['cost_usd']:.2f} at list prices"
    )
    if plan["budget_usd"] is not None:
        need = plan["cost_usd"] + plan["spent_before_usd"]
        verdict = "within" if need <= plan["budget_usd"] + 1e-9 else "OVER"
        print(
            f"  budget   {_usd(plan['budget_usd'])}; {_usd(plan['spent_before_usd'])} "
            f"already spent in this run directory ({verdict} budget)"
        )
    if not plan["last_frame"]:
        print(
            "  note     the video model takes no last frame: continuing shots start "
            "on the previous clip's last frame"
        )
    return 0


def _cmd_batch(args: argparse.Namespace) -> int:
    import json

    from ttv.batch.report import status, table
    from ttv.batch.runner import BatchOptions, run_batch

    words = args.words
    if words[0] == "status" and len(words) == 2:
        rows = status(Path(words[1]))
        print(json.dumps(rows, indent=2) if args.json else table(rows))
        return 0
    if len(words) != 1:
        raise UsageError("use `ttv batch QUEUE` or `ttv batch status QUEUE`")
    folder = Path(words[0])
    if not folder.is_dir():
        raise UsageError(
            f"{folder} is not a folder; a queue is a folder of story files"
        )
    if args.jobs < 1 or args.retries < 0 or args.lease <= 0:
        raise UsageError("--jobs must be at least 1, --retries 0 or more, --lease > 0")
    options = BatchOptions(
        jobs=args.jobs, retries=args.retries, lease_seconds=args.lease,
        budget_usd=args.budget_usd, watch=args.watch, retry_failed=args.retry_failed,
    )  # fmt: skip
    try:
        report = run_batch(folder, options)
    except KeyboardInterrupt:
        print("ttv: batch stopped; run `ttv batch` again to resume", file=sys.stderr)
        return 130
    rows = status(folder)
    print(json.dumps(rows, indent=2) if args.json else table(rows))
    if report.budget_reached:
        print(
            f"ttv: batch budget reached; left: {', '.join(report.left) or 'none'}",
            file=sys.stderr,
        )
    if report.interrupted:
        print("ttv: batch stopped; run it again to resume", file=sys.stderr)
        return 130
    return 1 if report.failed or (report.budget_reached and report.left) else 0


def _usd(value: float) -> str:
    return f"${value:.3f}" if 0 < value < 1 else f"${value:.2f}"


def _print_summary(s: dict) -> None:
    stopped = s["stopped_after"]
    print(f'ttv: {"stopped after " + stopped if stopped else "done"}: "{s["title"]}"')
    if s["final"]:
        print(f"  video    {s['final']}")
    print(f"  run dir  {s['run_dir']}")
    print(
        f"  plan     {s['shots']} shots ({s['continuing_shots']} continuing), "
        f"{s['keyframes']} keyframes, {s['frames']} frames = {s['seconds']:g} s "
        f"at {s['fps']} fps"
    )
    stages = ("script", "keyframes", "clips", "stitch")
    calls = ", ".join(f"{st} {s['backend_calls'].get(st, 0)}" for st in stages)
    hits = ", ".join(f"{st} {s['cache_hits'].get(st, 0)}" for st in stages)
    print(f"  calls    {calls}")
    print(f"  cached   {hits}")
    if s["spent_run_dir_usd"] or s["budget_usd"] is not None:
        budget = s["budget_usd"]
        of = f" of a {_usd(budget)} budget" if budget is not None else ""
        print(
            f"  spent    {_usd(s['spent_total_usd'])} this run, "
            f"{_usd(s['spent_run_dir_usd'])} in this run directory{of} "
            "(estimated from list prices)"
        )
    print(f"  time     {s['elapsed_seconds']:g} s")
    if s["preview"]:
        print(
            "  note     PREVIEW ANIMATIC from the offline backends: pacing and "
            "structure, not generated footage"
        )


class _TqdmHandler(logging.Handler):
    """Log lines printed through tqdm so they never garble a progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


def _setup_logging(level: int) -> None:
    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("%(levelname)-7s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    # Default: INFO, one line per step. -q: warnings and errors. -v: DEBUG (commands).
    ttv_level = (
        logging.WARNING if level < 0 else logging.INFO if level == 0 else logging.DEBUG
    )
    logging.getLogger("ttv").setLevel(ttv_level)
