"""Turn product photos into short videos, one generation per image.

The images come in the three forms pipelines usually hold them in: a public URL
(checked from its first bytes, then passed through to the gateway), a local file on
the worker, and an inline data URL (both read, checked and sent as data URLs). Run it
with ``{"image_url": ...}`` in the run's conf pointing at one of your images; against the
bundled simulator, its sample image ``http://127.0.0.1:8765/samples/1280x720.jpg`` (what
``make demo`` passes). ``generate`` is mapped over them:
each mapped task submits one generation and defers, so no worker slot is held while
the videos render, then copies its video into ``output_dir`` (the gateway's links
expire) and emits an event on the ``i2v_product_videos`` asset naming the generation,
the file and its SHA-256 (``i2v_published_videos`` is scheduled on it). ``report``
prints every video, where it was kept, and the total cost.

Run it against the bundled simulator with ``make demo``, or against the real
gateway by pointing the ``i2v_default`` connection at it.
"""

from __future__ import annotations

import base64
import io
import tempfile
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from airflow.sdk import Asset, dag, task

from airflow_provider_i2v.operators.i2v import ImageToVideoOperator

PROMPT = "The product slowly rotates on a clean studio table, soft light, gentle camera push-in"
#: Updated by every stored video; the extra of each event names the generation and the file.
PRODUCT_VIDEOS = Asset(name="i2v_product_videos")


@dag(
    dag_id="i2v_product_videos",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["i2v", "example"],
    params={
        # An http(s) image of yours (checked from its first bytes, then sent as it is); against
        # the bundled simulator, one of its samples: http://127.0.0.1:8765/samples/1280x720.jpg
        "image_url": "",
        "output_dir": str(Path(tempfile.gettempdir()) / "i2v-example-videos"),
    },
    doc_md=__doc__,
)
def i2v_product_videos() -> None:
    @task
    def product_images(
        params: dict[str, Any] | None = None, run_id: str | None = None
    ) -> list[dict[str, Any]]:
        """One set of operator kwargs per image (a real pipeline would list a bucket here).

        The local file is written on the worker that runs this task and read by the
        worker that runs ``generate``: fine on one machine; with workers on several
        machines, put it on shared or object storage (see docs/deploying.md).
        """
        from PIL import Image, ImageDraw

        def photo(size: tuple[int, int], colour: str) -> Image.Image:
            image = Image.new("RGB", size, "white")
            draw = ImageDraw.Draw(image)
            w, h = size
            draw.ellipse((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill=colour)
            return image

        folder = Path(tempfile.gettempdir()) / "i2v-example" / str(run_id).replace(":", "_")
        folder.mkdir(parents=True, exist_ok=True)
        local_file = folder / "sku-1002.png"
        photo((1280, 720), "steelblue").save(local_file)

        buffer = io.BytesIO()
        photo((720, 960), "darkorange").save(buffer, format="JPEG", quality=90)
        data_url = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()

        images = [
            {"first_frame_image": str(local_file), "prompt": PROMPT},
            {"first_frame_image": data_url, "prompt": PROMPT},
        ]
        image_url = (params or {}).get("image_url")
        if image_url:
            images.insert(0, {"first_frame_image": image_url, "prompt": PROMPT})
        else:
            print("No image_url in the run's conf: the URL form of the first frame is left out")
        return images

    generate = ImageToVideoOperator.partial(
        task_id="generate",
        i2v_conn_id="i2v_default",
        poll_interval=2,
        retries=2,
        output_dir="{{ params.output_dir }}/{{ run_id | replace(':', '_') }}",
        outlets=[PRODUCT_VIDEOS],
    ).expand_kwargs(product_images())

    @task
    def report(results: list[dict[str, Any]]) -> dict[str, Any]:
        """Print every video, where it was kept, and the total cost (Decimal, never float)."""
        results = results[:]  # one XCom request (iterating a lazy sequence probes past its end)
        urls = [url for result in results for url in result["video_urls"]]
        files = [file for result in results for file in result.get("files", [])]
        total = sum((Decimal(str(r["usage"].get("cost") or "0")) for r in results), Decimal("0"))
        for result in results:
            kept = ", ".join(f"{f['uri']} (sha256 {f['sha256'][:12]}...)" for f in result.get("files", []))
            where = kept or ", ".join(result["video_urls"])
            print(f"{result['generation_id']}: {where} ({result['usage'].get('cost')} USD)")
        print(f"{len(urls)} videos, total cost {total} USD")
        return {
            "video_urls": urls,
            "video_files": [f["uri"] for f in files],
            "files": files,
            "total_cost": str(total),
            "videos": len(urls),
        }

    report(generate.output)


i2v_product_videos()
