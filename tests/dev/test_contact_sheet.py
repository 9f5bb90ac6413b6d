"""The demo's contact sheet: one row per video, the first, middle and last frame of each."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("av", reason="the video extra (PyAV) is not installed")

from airflow_provider_i2v.simulator.video import render
from dev.contact_sheet import THUMB_WIDTH, contact_sheet, key_frames


def video(path: Path, colour: str) -> Path:
    frame = Image.new("RGB", (640, 480), colour)
    path.write_bytes(render(frame, width=320, height=180, fps=12, seconds=2))
    return path


def test_a_sheet_has_one_row_of_three_frames_per_video(tmp_path: Path) -> None:
    videos = [video(tmp_path / "a.mp4", "red"), video(tmp_path / "b.mp4", "blue")]
    assert len(key_frames(videos[0])) == 3
    sheet = Image.open(contact_sheet(videos, tmp_path / "sheet.png"))
    assert sheet.width > 3 * THUMB_WIDTH
    # the first row's frames are red, the second row's blue
    first_row = sheet.getpixel((10 + THUMB_WIDTH // 2, 40))
    last_row = sheet.getpixel((10 + THUMB_WIDTH // 2, sheet.height - 40))
    assert first_row[0] > 150 > first_row[2]
    assert last_row[2] > 150 > last_row[0]


def test_no_videos_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no videos"):
        contact_sheet([], tmp_path / "sheet.png")
