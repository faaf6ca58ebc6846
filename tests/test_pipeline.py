"""End to end on the offline backends: real files, real ffmpeg, probed results."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import SMALL_STORY
from ttv.config import load_config
from ttv.media.frames import last_frame
from ttv.media.images import load_image
from ttv.media.probe import probe
from ttv.pipeline import run


def render(path, out, **kw):
    return run(load_config(path), run_dir=out, progress=False, **kw)


def test_story_renders_to_planned_length(write_config, tmp_path):
    result = render(write_config(), tmp_path / "run")
    info = probe(result.final)
    # 4 shots of 6 frames at 12 fps; two continue, each dropping one shared frame.
    assert result.summary["frames"] == 4 * 6 - 2
    assert info.frame_count == 22
    assert (info.width, info.height, info.fps) == (96, 54, 12)
    run_dir = result.run_dir
    for name in (
        "shot01_start",
        "shot01_end",
        "shot02_end",
        "shot03_start",
        "shot04_end",
    ):
        assert load_image(run_dir / "keyframes" / f"{name}.png", what=name).size == (
            96,
            54,
        )
    assert not (run_dir / "keyframes" / "shot02_start.png").exists()  # continues
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["artifacts"]["keyframes/shot02_end.png"]["previous"] == "shot01_end"
    assert manifest["artifacts"]["clips/shot02.mp4"]["first"] == "shot01_end"
    assert result.summary["backend_calls"] == {"keyframes": 6, "clips": 4, "stitch": 1}
    assert result.summary["preview"] is True


def test_rerun_redoes_nothing(write_config, tmp_path):
    path = write_config()
    render(path, tmp_path / "run")
    again = render(path, tmp_path / "run")
    assert again.summary["backend_calls"] == {}
    assert again.summary["cache_hits"]["keyframes"] == 6
    assert again.summary["cache_hits"]["clips"] == 4
    assert probe(again.final).frame_count == 22


def test_edited_shot_redoes_only_what_depends_on_it(write_config, tmp_path):
    render(write_config(), tmp_path / "run")
    before = json.loads((tmp_path / "run" / "manifest.json").read_text())["artifacts"]
    edited = SMALL_STORY.replace(
        "Chelsea looks at the door", "Chelsea jumps on a crate"
    )
    result = render(write_config(edited), tmp_path / "run")
    after = json.loads((tmp_path / "run" / "manifest.json").read_text())["artifacts"]
    changed = {name for name in after if after[name]["key"] != before[name]["key"]}
    # shot03's end keyframe changed; shot04 chains off it; clips 3 and 4 use them.
    assert changed == {
        "keyframes/shot03_end.png",
        "keyframes/shot04_end.png",
        "clips/shot03.mp4",
        "clips/shot04.mp4",
        "final.mp4",
    }
    assert result.summary["backend_calls"] == {"keyframes": 2, "clips": 2, "stitch": 1}


def test_edited_script_file_is_what_gets_rendered(write_config, tmp_path):
    prompt_story = """\
        title: From a prompt
        prompt: Eileen lands on the beach. She looks at the sea. Later, Chelsea waits.
        characters:
          - {id: eileen, name: Eileen, reference: refs/astronaut.png}
          - {id: chelsea, name: Chelsea, reference: refs/chelsea.png}
        clips: {duration: 0.5}
        output: {width: 64, height: 36, fps: 8}
        """
    path = write_config(prompt_story)
    first = render(path, tmp_path / "run", stop_after="script")
    assert first.summary["shots"] == 3
    script_file = tmp_path / "run" / "script.yaml"
    text = script_file.read_text()
    assert "transition: continue" in text  # "She looks" continues the landing
    # The user deletes the last shot and rewrites a prompt by hand.
    cut = text.index("- id: beat03")
    script_file.write_text(text[:cut].replace("She looks at the sea.", "She waves."))
    second = render(path, tmp_path / "run")
    assert second.summary["shots"] == 2
    assert probe(second.final).frame_count == 4 + 4 - 1
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert "She waves." in manifest["artifacts"]["keyframes/shot02_end.png"]["prompt"]
    assert "clips/shot03.mp4" not in manifest["artifacts"]
    assert not (tmp_path / "run" / "clips" / "shot03.mp4").exists()


def test_stop_after_keyframes_then_continue(write_config, tmp_path):
    path = write_config()
    first = render(path, tmp_path / "run", stop_after="keyframes")
    assert first.final is None
    assert first.summary["backend_calls"] == {"keyframes": 6}
    assert not (tmp_path / "run" / "clips").exists()
    second = render(path, tmp_path / "run")
    assert second.summary["backend_calls"] == {"clips": 4, "stitch": 1}


def test_damaged_cached_keyframe_is_made_again(write_config, tmp_path, caplog):
    path = write_config()
    render(path, tmp_path / "run")
    cache = tmp_path / "_cache" / "keyframe"
    victim = sorted(cache.rglob("*.png"))[0]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    (tmp_path / "run" / "keyframes").joinpath("x").touch()  # stray files are harmless
    again = render(path, tmp_path / "run")
    assert again.summary["backend_calls"] == {"keyframes": 1}
    assert "damaged" in caplog.text
    load_image(victim, what="repaired keyframe")


def test_first_frame_only_backend_chains_from_last_frame(write_config, tmp_path):
    text = SMALL_STORY.replace(
        "  concurrency: 2", "  concurrency: 2\n  last_frame: false"
    )
    result = render(write_config(text), tmp_path / "run")
    run_dir = result.run_dir
    # Only cuts get a keyframe; continuing shots start on the previous clip's last frame.
    assert sorted(p.name for p in (run_dir / "keyframes").iterdir()) == [
        "shot01_start.png",
        "shot02_start.png",
        "shot03_start.png",
        "shot04_start.png",
    ]
    start = np.asarray(load_image(run_dir / "keyframes/shot02_start.png", what="kf"))
    end_of_previous = np.asarray(last_frame(run_dir / "clips/shot01.mp4"))
    assert np.array_equal(start, end_of_previous)
    assert probe(result.final).frame_count == 22
    assert result.summary["backend_calls"]["keyframes"] == 2


@pytest.mark.parametrize("bad", ["shot01", "../escape"])
def test_shot_ids_cannot_name_paths(write_config, tmp_path, bad):
    from ttv.errors import ConfigError

    text = SMALL_STORY.replace(
        "  - transition: cut\n", f"  - id: '{bad}'\n    transition: cut\n", 1
    )
    if bad == "shot01":
        render(write_config(text), tmp_path / "run")  # a plain id is fine
        return
    with pytest.raises(ConfigError, match=r"shots\[0\]\.id"):
        load_config(write_config(text))


def test_stale_files_leave_the_run_dir_when_stopping_early(write_config, tmp_path):
    render(write_config(), tmp_path / "run")
    edited = SMALL_STORY.replace("Chelsea looks at the door", "Chelsea naps")
    render(write_config(edited), tmp_path / "run", stop_after="keyframes")
    run_dir = tmp_path / "run"
    assert not (run_dir / "final.mp4").exists()  # no longer the film of this script
    assert not (run_dir / "clips" / "shot03.mp4").exists()
    assert (run_dir / "clips" / "shot01.mp4").exists()  # still right
    assert not list(run_dir.rglob(".*.link"))


def test_output_larger_than_reference_limit(write_config, tmp_path):
    text = SMALL_STORY.replace("width: 96", "width: 2560").replace(
        "height: 54", "height: 1440"
    )
    text = text.replace("  fps: 12", "  fps: 4")
    result = render(write_config(text), tmp_path / "run")
    info = probe(result.final)
    assert (info.width, info.height) == (2560, 1440)


def test_second_run_on_the_same_dir_is_refused_while_the_first_holds_it(
    write_config, tmp_path
):
    from ttv.errors import UsageError
    from ttv.store.rundir import RunDir

    (tmp_path / "run").mkdir()
    holder = RunDir(tmp_path / "run")
    holder.acquire()
    try:
        with pytest.raises(UsageError, match="another ttv run"):
            render(write_config(), tmp_path / "run")
    finally:
        holder.release()
    render(write_config(), tmp_path / "run")


def test_run_dir_with_user_files_is_refused(write_config, story_dir):
    from ttv.errors import UsageError

    path = write_config()
    with pytest.raises(UsageError, match="did not make"):
        render(path, story_dir)  # the config's own folder
    assert path.read_text().startswith("title: Test Story")


def test_dissolve_overlaps_the_clips(write_config, tmp_path):
    text = SMALL_STORY.replace(
        "  - transition: cut\n    characters: [chelsea]",
        "  - transition: dissolve\n    characters: [chelsea]",
    )
    text += "stitch:\n  dissolve: 0.25\n"  # 3 frames at 12 fps
    result = render(write_config(text), tmp_path / "run")
    assert result.summary["frames"] == 22 - 3
    assert probe(result.final).frame_count == 19


def test_folder_with_someone_elses_manifest_is_not_a_run_dir(write_config, tmp_path):
    from ttv.errors import UsageError

    web = tmp_path / "web"
    web.mkdir()
    (web / "manifest.json").write_text('{"name": "My app", "icons": []}')
    with pytest.raises(UsageError, match="did not make"):
        render(write_config(), web)
    assert json.loads((web / "manifest.json").read_text())["name"] == "My app"
