"""The batch's items: each an image, or a dict of per-item parameters over shared defaults.

Every item is checked (its parameters, and its image, read from wherever it lives)
before the first create, so a bad item among thousands costs nothing and is named by
its index. Images are read again when they are submitted, rather than held: a batch of
thousands of local photos must not keep thousands of data URLs in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_i2v.exceptions import I2VInvalidRequestError
from airflow_provider_i2v.generation.request import REQUEST_PARAMS, Prepared, describe_source, prepare

#: Keys a per-item dict may hold.
ITEM_KEYS = frozenset({"first_frame_image", *REQUEST_PARAMS})


@dataclass(frozen=True)
class BatchItem:
    """One image of the batch: its position, its parameters and its image as given."""

    index: int
    values: Mapping[str, Any]
    source: Any

    @property
    def where(self) -> str:
        return f"images[{self.index}]: "

    def prepare(self, log: Any, *, revision: str | None, check_url: bool) -> Prepared:
        """The checked request (reads the image if it must be read)."""
        return prepare(
            self.values, self.source, log, where=self.where, revision=revision, check_url=check_url
        )

    def describe(self) -> str:
        return describe_source(self.source)


def parse_items(images: Any, defaults: Mapping[str, Any]) -> list[BatchItem]:
    """``images`` (a list of images or dicts) as items; raises naming the first bad one."""
    if isinstance(images, str | bytes) or not hasattr(images, "__iter__"):
        raise I2VInvalidRequestError(
            f"images: must be a list of images or of dicts of parameters, got {type(images).__name__}"
            + (
                " (a template renders to a string unless the DAG sets render_template_as_native_obj=True)"
                if isinstance(images, str)
                else ""
            )
        )
    items: list[BatchItem] = []
    for index, raw in enumerate(images):
        if isinstance(raw, Mapping):
            unknown = sorted(set(raw) - ITEM_KEYS)
            if unknown:
                raise I2VInvalidRequestError(
                    f"images[{index}]: unknown keys {unknown}; allowed: {sorted(ITEM_KEYS)}"
                )
            if "first_frame_image" not in raw:
                raise I2VInvalidRequestError(f"images[{index}]: 'first_frame_image' is required")
            values = {**defaults, **{k: v for k, v in raw.items() if k != "first_frame_image"}}
            items.append(BatchItem(index, values, raw["first_frame_image"]))
        else:
            items.append(BatchItem(index, dict(defaults), raw))
    if not items:
        raise I2VInvalidRequestError("images: the batch is empty")
    return items


@dataclass(frozen=True)
class Checked:
    """What the check pass keeps of a valid item: what names its request (not its bytes)."""

    digest: str
    image: str
    model: str


def check_items(
    items: list[BatchItem], *, revision: str | None, check_url: bool
) -> tuple[dict[int, Checked], list[tuple[BatchItem, I2VInvalidRequestError]]]:
    """Check every item before anything is paid for: the valid ones, and the refused ones with why.

    A read failure a retry may fix (storage unreachable) is raised, not reported: the
    task retries before it pays for anything.
    """
    valid: dict[int, Checked] = {}
    refused = []
    for item in items:
        try:
            prepared = item.prepare(None, revision=revision, check_url=check_url)
        except I2VInvalidRequestError as exc:
            refused.append((item, exc))
            continue
        valid[item.index] = Checked(prepared.digest, prepared.image, prepared.request.model)
    return valid, refused
