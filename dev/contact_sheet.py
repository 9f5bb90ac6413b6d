"""A contact sheet: the first, middle and last frame of each video, one row per video.

The demo writes one next to the videos it kept, so a person sees the result at a glance
without a player. Frames are decoded with PyAV (the ``video`` extra) and laid out with
Pillow.

    python dev/contact_sheet.py demo-output/<run>/ -o contact-sheet.png
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

THUMB_WIDTH = 320
LABEL_HEIGHT = 22
GAP = 6


def key_frames(video: Path) -> list[Image.Image]:
    """The first, middle and last decoded frames of ``video``."""
    import av

    with av.open(str(video)) as container:
        frames = [frame.to_image() for frame in container.decode(video=0)]
    if not frames:
        raise ValueError(f"{video} holds no video frames")
    return [frames[0], frames[len(frames) // 2], frames[-1]]


def contact_sheet(videos: Sequence[Path], output: Path) -> Path:
    """Write the sheet of ``videos`` to ``output`` (PNG); returns ``output``."""
    rows = [(video, [thumb(frame) for frame in key_frames(video)]) for video in videos]
    if not rows:
        raise ValueError("no videos to draw")
    thumb_height = max(image.height for _, images in rows for image in images)
    width = GAP + 3 * (THUMB_WIDTH + GAP)
    height = GAP + len(rows) * (LABEL_HEIGHT + thumb_height + GAP)
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    top = GAP
    for video, images in rows:
        draw.text((GAP, top + 4), f"{video.name}   first / middle / last frame", fill="black")
        top += LABEL_HEIGHT
        for column, image in enumerate(images):
            sheet.paste(image, (GAP + column * (THUMB_WIDTH + GAP), top))
        top += thumb_height + GAP
    output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(output, "PNG")
    return output


def thumb(frame: Image.Image) -> Image.Image:
    ratio = THUMB_WIDTH / frame.width
    return frame.resize((THUMB_WIDTH, max(1, round(frame.height * ratio))))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a folder of .mp4 files")
    parser.add_argument("-o", "--output", type=Path, default=None, help="PNG to write")
    args = parser.parse_args(argv)
    videos = sorted(args.folder.glob("*.mp4"))
    output = contact_sheet(videos, args.output or args.folder / "contact-sheet.png")
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
