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
from airflow_provider_i2v.operators.params import REQUEST_PARAMS, validated_request
from airflow_provider_i2v.protocol import GenerationRequest

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

    def request(self, log: Any) -> GenerationRequest:
        """The checked request (reads the image if it must be read)."""
        return validated_request(self.values, self.source, log, where=self.where)

    def describe(self) -> str:
        source = self.source
        text = source if isinstance(source, str) else repr(source)
        return text if not text.startswith("data:") else text.partition(",")[0] + ",..."


def parse_items(images: Any, defaults: Mapping[str, Any]) -> list[BatchItem]:
    """``images`` (a list of images or dicts) as items; raises naming the first bad one."""
    if isinstance(images, str | bytes) or not hasattr(images, "__iter__"):
        raise I2VInvalidRequestError(
            f"images: must be a list of images or of dicts of parameters, got {type(images).__name__}"
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


def check_items(items: list[BatchItem], log: Any) -> list[tuple[BatchItem, I2VInvalidRequestError]]:
    """Check every item before anything is paid for; returns the refused ones and why.

    A read failure a retry may fix (storage unreachable) is raised, not reported: the
    task retries before it pays for anything.
    """
    refused = []
    for item in items:
        try:
            item.request(_Quiet(log))
        except I2VInvalidRequestError as exc:
            refused.append((item, exc))
    return refused


class _Quiet:
    """A logger that drops the per-item "First frame: ..." lines of the check pass."""

    def __init__(self, log: Any) -> None:
        self._log = log

    def info(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)
