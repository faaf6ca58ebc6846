"""The ffmpeg filter graph that joins clip segments (used by `ttv.media.concat`).

Each segment is normalised to the output contract (size, SAR, rate, pixel format,
exact frame count, exact audio sample count); runs of hard cuts are concatenated and
consecutive runs dissolve into each other with xfade and acrossfade. Every length is
worked out in output frames and audio samples, never in probed seconds (F2).
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

from ttv.media.encode import rate_arg

if TYPE_CHECKING:
    from ttv.media.concat import JoinPlan, Part

SAMPLE_RATE = 48000

_HALF = Fraction(1, 2)


def filter_graph(plan: JoinPlan) -> str:
    """Build the graph: normalise each segment, then cut or dissolve to the next."""
    chains = []
    for i, (part, (start, end)) in enumerate(
        zip(plan.parts, frame_spans(plan.parts), strict=True)
    ):
        chains.append(f"{_video_chain(i, part, plan)}[v{i}]")
        if plan.audio:
            # Count samples on the output timeline so rounding never accumulates.
            samples = _sample_at(end, plan.fps) - _sample_at(start, plan.fps)
            chains.append(f"{_audio_chain(i, part, samples)}[a{i}]")
    chains += _joins(plan)
    # concat can give a one-frame segment no duration, so the next segment starts on
    # the same timestamp and the encoder drops frames; number the frames afresh.
    chains.append(f"[vcat]{_renumber(plan.fps)}[vout]")
    return ";\n".join(chains)


def frame_spans(parts: tuple[Part, ...]) -> list[tuple[int, int]]:
    """Return each part's [start, end) in output frames; crossfades overlap them."""
    spans, end = [], 0
    for part in parts:
        start = end - part.crossfade
        end = start + part.out_frames
        spans.append((start, end))
    return spans


def _joins(plan: JoinPlan) -> list[str]:
    """Concatenate each run of hard cuts, then dissolve run into run: [vcat], [aout]."""
    runs = _runs(plan.parts)
    starts = [start for start, _ in frame_spans(plan.parts)]
    chains: list[str] = []
    joined: tuple[str, str] | None = None
    for r, run in enumerate(runs):
        last = r == len(runs) - 1
        labels = (f"v{run[0]}", f"a{run[0]}")
        # A lone run is concatenated even with one segment, so [vcat] always exists.
        if len(run) > 1 or len(runs) == 1:
            labels = ("vcat", "aout") if len(runs) == 1 else (f"vr{r}", f"ar{r}")
            chains.append(_concat(run, plan.audio, labels))
        if joined is None:
            joined = labels
            continue
        out = ("vcat", "aout") if last else (f"vx{r}", f"ax{r}")
        frames = plan.parts[run[0]].crossfade
        chains += _dissolve(plan, joined, labels, (starts[run[0]], frames), out)
        joined = out
    return chains


def _runs(parts: tuple[Part, ...]) -> list[list[int]]:
    """Group part indexes into runs joined by hard cuts; a crossfade starts a run."""
    runs: list[list[int]] = []
    for i, part in enumerate(parts):
        if runs and not part.crossfade:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _concat(run: list[int], audio: bool, out: tuple[str, str]) -> str:
    inputs = "".join(f"[v{i}][a{i}]" if audio else f"[v{i}]" for i in run)
    outputs = f"[{out[0]}][{out[1]}]" if audio else f"[{out[0]}]"
    return f"{inputs}concat=n={len(run)}:v=1:a={int(audio)}{outputs}"


def _dissolve(
    plan: JoinPlan,
    first: tuple[str, str],
    second: tuple[str, str],
    overlap: tuple[int, int],
    out: tuple[str, str],
) -> list[str]:
    """Dissolve `second` into `first` over output frames [start, start + frames)."""
    start, frames = overlap
    fps = plan.fps
    v = out[0]
    # xfade shows the frame at its offset as the first input alone and weights the
    # second input's first frame zero, so a ramp over `frames` frames would blend only
    # frames-1 and lose a frame. Start one frame earlier, on the last frame that is
    # the first input alone, and lead the second input with a throwaway copy of its
    # first frame: then `frames` frames are true blends, at weights 1/(frames+1) ..
    # frames/(frames+1), the frame count is unchanged and the offset stays on a frame.
    # The offset is parsed in microseconds and rescaled to the 1/fps time base with
    # rounding, which lands it back on the exact frame.
    xfade = (
        f"xfade=transition=fade:duration={seconds(Fraction(frames + 1) / fps)}"
        f":offset={seconds(Fraction(start - 1) / fps)}"
    )
    chains = [
        # xfade refuses inputs whose time bases differ (concat's is 1/1000000), and
        # picks its frames by timestamp: renumber both on the 1/fps clock.
        f"[{first[0]}]{_renumber(fps)}[{v}a]",
        f"[{second[0]}]tpad=start=1:start_mode=clone,{_renumber(fps)}[{v}b]",
        f"[{v}a][{v}b]{xfade}[{v}]",
    ]
    if plan.audio:
        # The same span of the output timeline, in samples; acrossfade's output is
        # exactly len(first) + len(second) - ns samples long.
        ns = _sample_at(start + frames, fps) - _sample_at(start, fps)
        chains.append(
            f"[{first[1]}][{second[1]}]acrossfade=ns={ns}:c1=tri:c2=tri[{out[1]}]"
        )
    return chains


def _renumber(fps: Fraction) -> str:
    # An exact integer per frame: "N/(FR*TB)"-style float expressions are truncated
    # by setpts and can land a frame on its predecessor's timestamp (25 fps, NTSC).
    return f"settb={fps.denominator}/{fps.numerator},setpts=N"


def _video_chain(i: int, part: Part, plan: JoinPlan) -> str:
    info = part.info
    scaled_w, scaled_h = fit_inside(
        info.width, info.height, info.sar, plan.width, plan.height
    )
    x, y = (plan.width - scaled_w) // 2 // 2 * 2, (plan.height - scaled_h) // 2 // 2 * 2
    n = part.out_frames
    filters = [
        # Trim by frame number before resampling, so the kept frames are exact
        # whatever the clip's time base; then restart its clock at zero.
        f"trim=start_frame={part.start}:end_frame={part.start + part.count}",
        "setpts=PTS-STARTPTS",
        f"fps={rate_arg(plan.fps)}",
        f"scale={scaled_w}:{scaled_h}:out_color_matrix=bt709:out_range=tv",
        "setsar=1",
        f"pad={plan.width}:{plan.height}:{x}:{y}:color=black",
        "format=yuv420p",
        # fps= can end a frame short or long depending on the last frame's duration,
        # and a short clip is held on its last frame: clone the last frame, then
        # cut, so the segment has exactly n frames.
        f"tpad=stop_mode=clone:stop={n}",
        f"trim=end_frame={n}",
        "setpts=PTS-STARTPTS",
    ]
    return f"[{i}:v:0]" + ",".join(filters)


def _audio_chain(i: int, part: Part, samples: int) -> str:
    fmt = f"aformat=sample_fmts=fltp:sample_rates={SAMPLE_RATE}:channel_layouts=stereo"
    # Pad with silence and cut to the exact sample count of the segment's video, so
    # audio never drifts against video however many clips are joined.
    fit_length = f"apad=whole_len={samples},atrim=end_sample={samples}"
    if part.info.audio is None:
        return f"anullsrc=r={SAMPLE_RATE}:cl=stereo,{fmt},atrim=end_sample={samples}"
    start = Fraction(part.start) / part.info.fps
    end = Fraction(part.start + part.count) / part.info.fps
    return (
        f"[{i}:a:0]atrim=start={seconds(start)}:end={seconds(end)},"
        f"asetpts=PTS-STARTPTS,aresample={SAMPLE_RATE},{fmt},{fit_length},"
        "asetpts=N/SR/TB"
    )


def _sample_at(frame: int, fps: Fraction) -> int:
    """Return the audio sample at which output frame `frame` starts."""
    return half_up(frame * SAMPLE_RATE / fps)


def fit_inside(
    width: int, height: int, sar: Fraction, box_w: int, box_h: int
) -> tuple[int, int]:
    """Return the even size that shows a clip whole inside box_w x box_h."""
    display_w = Fraction(width) * (sar or 1)
    scale = min(box_w / display_w, Fraction(box_h, height))
    fitted_w = max(2, min(box_w, half_up(display_w * scale / 2) * 2))
    fitted_h = max(2, min(box_h, half_up(height * scale / 2) * 2))
    return fitted_w, fitted_h


def half_up(value: Fraction) -> int:
    """Round a non-negative value to the nearest integer, halves up."""
    return int(value + _HALF)


def seconds(value: Fraction) -> str:
    """Format a time for an ffmpeg option, to the microsecond ffmpeg parses."""
    return f"{float(value):.6f}"
