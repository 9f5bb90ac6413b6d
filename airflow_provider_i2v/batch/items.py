"""The batch's items: each an image, or a dict of per-item parameters over shared defaults.

Every item is checked (its parameters, and its image, read from wherever it lives)
before the first create, so a bad item among thousands costs nothing and is named by
its index. Images are read again when they are submitted, rather than held: a batch of
thousands of local photos must not keep thousands of data URLs in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_i2v.exceptions import I2VInvalidRequestError
from airflow_provider_i2v.generation.request import REQUEST_PARAMS, Prepared, describe_source, prepare

if TYPE_CHECKING:
    from airflow_provider_i2v.hooks.settings import ConnectionSettings

#: Keys a per-item dict may hold.
ITEM_KEYS = frozenset({"first_frame_image", *REQUEST_PARAMS})


@dataclass(frozen=True)
class BatchItem:
    """One image of the batch: its position, its parameters and its image as given."""

    index: int
    values: Mapping[str, Any]
    source: Any
    #: The image as the batch's concurrent URL check left it (an ``http(s)`` image checked
    #: once, not fetched again); ``None``: the source is read when it is prepared.
    checked: Any = None

    @property
    def where(self) -> str:
        return f"images[{self.index}]: "

    def prepare(
        self, log: Any, *, revision: str | None, check_url: bool, settings: ConnectionSettings | None = None
    ) -> Prepared:
        """The checked request (reads the image if it must be read)."""
        image = self.source if self.checked is None else self.checked
        return prepare(
            self.values,
            image,
            log,
            where=self.where,
            revision=revision,
            check_url=check_url,
            settings=settings,
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
    items: list[BatchItem], *, revision: str | None, check_url: bool, settings: ConnectionSettings
) -> tuple[list[BatchItem], dict[int, Checked], list[tuple[BatchItem, I2VInvalidRequestError]]]:
    """Check every item before anything is paid for: the items (``http(s)`` images checked
    once, concurrently), the valid ones, and the refused ones with why.

    A read failure a retry may fix (storage unreachable, an image server answering 5xx) is
    raised, not reported: the task retries before it pays for anything.
    """
    from dataclasses import replace

    from airflow_provider_i2v.images import prepare_image_urls
    from airflow_provider_i2v.protocol import MINIMAX_I2V_01_LIVE, MODELS

    refused: list[tuple[BatchItem, I2VInvalidRequestError]] = []
    if check_url and items:
        model = MODELS.get(str(items[0].values.get("model")), MINIMAX_I2V_01_LIVE)
        good, bad = prepare_image_urls([item.source for item in items], model=model, settings=settings)
        for index, error in sorted(bad.items()):
            if not isinstance(error, I2VInvalidRequestError):
                raise error
            refused.append((items[index], error))
        items = [replace(item, checked=good[item.index]) if item.index in good else item for item in items]
    valid: dict[int, Checked] = {}
    skipped = {item.index for item, _ in refused}
    for item in items:
        if item.index in skipped:
            continue
        try:
            prepared = item.prepare(None, revision=revision, check_url=check_url, settings=settings)
        except I2VInvalidRequestError as exc:
            refused.append((item, exc))
            continue
        valid[item.index] = Checked(prepared.digest, prepared.image, prepared.request.model)
    return items, valid, sorted(refused, key=lambda pair: pair[0].index)
