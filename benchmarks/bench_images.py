"""Benchmark: validate and encode a ~19 MB JPEG, PNG and WebP, beside just reading the file.

Run: ``python benchmarks/bench_images.py`` (from the repository root).

For each image it prints, side by side:

* ``read``: time of ``Path.read_bytes()`` (the floor: any preparation must read the file);
* ``read+b64``: read and build the data URL naively, no check at all (what sending a
  file costs anyway);
* ``prepare``: time of :func:`prepare_first_frame_image` (read + header + integrity walk +
  base64 data URL), best of a few runs;
* ``peak``: the peak of Python allocations during ``prepare`` (``tracemalloc``), and the
  same divided by the file size (target: about 3x at most);
* ``rss+``: how much the process's peak resident memory grew during one ``prepare`` in a
  fresh interpreter. It includes memory ``tracemalloc`` cannot see (Pillow's C code),
  so it shows that no pixels are decoded.

The images are random noise (so they barely compress) made with Pillow in a temporary
directory; the page cache is warm for every measurement.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airflow_provider_i2v.images import prepare_first_frame_image

TARGET_BYTES = 19_000_000
#: Noise barely compresses: these options only make the encoders fast.
_SAVE_OPTIONS: dict[str, dict[str, int | bool]] = {
    "JPEG": {"quality": 95},
    "PNG": {"compress_level": 1},
    "WEBP": {"lossless": True, "method": 0, "quality": 0},
}
REPEATS = 3


def _noise_image(path: Path, image_format: str, target: int) -> int:
    """Write a noise image of about ``target`` bytes; returns its size."""
    from PIL import Image

    def save(side: int) -> int:
        width, height = side * 4 // 3, side
        image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
        options = _SAVE_OPTIONS[image_format]
        image.save(path, image_format, **options)
        return path.stat().st_size

    side = 800
    size = save(side)
    for _ in range(3):  # size grows with the pixel count: scale the side by the square root
        side = int(side * (target / size) ** 0.5)
        size = save(side)
    return size


def _naive_data_url(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _best_time(action: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def _peak(action: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


_RSS_PROBE = """
import sys
from airflow_provider_i2v.images import prepare_first_frame_image
import PIL.Image, PIL.PngImagePlugin, PIL.JpegImagePlugin, PIL.WebPImagePlugin

def high_water():  # VmHWM: this process's peak RSS (ru_maxrss would include the parent's)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))

before = high_water()
prepared = prepare_first_frame_image(sys.argv[1])
print(high_water() - before)
"""


def _rss_growth(path: Path) -> int | None:
    """Growth of the peak RSS over one ``prepare`` in a fresh interpreter (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(path)], capture_output=True, text=True, env=env, check=True
    )
    return int(out.stdout.strip())


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for image_format, name in (("JPEG", "noise.jpg"), ("PNG", "noise.png"), ("WEBP", "noise.webp")):
            path = Path(tmp) / name
            size = _noise_image(path, image_format, TARGET_BYTES)
            prepared = prepare_first_frame_image(str(path))
            read_s = _best_time(path.read_bytes)
            naive_s = _best_time(partial(_naive_data_url, path))
            prep_s = _best_time(partial(prepare_first_frame_image, str(path)))
            read_peak = _peak(path.read_bytes)
            prep_peak = _peak(partial(prepare_first_frame_image, str(path)))
            rss = _rss_growth(path)
            rows.append((image_format, size, prepared, read_s, naive_s, prep_s, read_peak, prep_peak, rss))

    print(f"prepare_first_frame_image on noise images (best of {REPEATS}; warm page cache)")
    print()
    header = (
        f"{'format':<6} {'file':>9} {'pixels':>11} {'read':>8} {'read+b64':>9} "
        f"{'prepare':>9} {'prep/read':>9} "
        f"{'read peak':>9} {'prep peak':>9} {'peak/file':>9} {'rss+':>9} {'data URL':>9}"
    )
    print(header)
    print("-" * len(header))
    for image_format, size, prepared, read_s, naive_s, prep_s, read_peak, prep_peak, rss in rows:
        rss_text = f"{rss / 1e6:.1f} MB" if rss is not None else "n/a"
        print(
            f"{image_format:<6} {size / 1e6:>6.1f} MB {prepared.width}x{prepared.height:<5} "
            f"{read_s * 1e3:>5.1f} ms {naive_s * 1e3:>6.1f} ms "
            f"{prep_s * 1e3:>6.1f} ms {prep_s / read_s:>8.1f}x "
            f"{read_peak / 1e6:>6.1f} MB {prep_peak / 1e6:>6.1f} MB {prep_peak / size:>8.2f}x "
            f"{rss_text:>9} {len(prepared.url) / 1e6:>6.1f} MB"
        )


if __name__ == "__main__":
    main()
