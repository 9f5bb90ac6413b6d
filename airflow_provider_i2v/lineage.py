"""OpenLineage facets of one generation: the first frame in, the stored videos out.

Imported only by ``ImageToVideoOperator.get_openlineage_facets_on_complete``, which the
OpenLineage provider calls when it is installed and enabled: importing the operator
never imports OpenLineage, and without the provider nothing here runs.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from airflow.providers.common.compat.openlineage.facet import Dataset, RunFacet
from airflow.providers.openlineage.extractors import OperatorLineage
from attrs import define

#: The run facet's key in an OpenLineage event.
RUN_FACET = "i2vGeneration"


@define
class I2VGenerationRunFacet(RunFacet):  # type: ignore[misc]
    """What was generated and what it cost (a decimal string, never a float)."""

    generationId: str
    model: str
    cost: str
    uncertainCreates: int = 0


def dataset(location: Any) -> Dataset | None:
    """The OpenLineage dataset of a URI, an ``ObjectStoragePath`` or a local path.

    Naming follows OpenLineage's conventions: ``file`` + absolute path, ``s3://bucket`` +
    key, ``https://host`` + path. An inline data URL is no dataset (it names nothing).
    """
    text = str(location)
    if text.startswith("data:"):
        return None
    if "://" not in text:
        return Dataset(namespace="file", name=os.path.abspath(os.path.expanduser(text)))
    parts = urlsplit(text)
    if parts.scheme == "file":
        return Dataset(namespace="file", name=parts.path)
    return Dataset(namespace=f"{parts.scheme}://{parts.netloc}", name=parts.path.lstrip("/") or "/")


def operator_lineage(first_frame: Any, result: dict[str, Any] | None) -> Any:
    """Inputs, outputs and the run facet of a finished generation (empty before it finished)."""
    inputs = [d for d in [dataset(first_frame)] if d is not None]
    if result is None:
        return OperatorLineage(inputs=inputs)
    outputs = [d for d in (dataset(uri) for uri in result.get("video_files") or []) if d is not None]
    facet = I2VGenerationRunFacet(
        generationId=result["generation_id"],
        model=result["model"],
        cost=str(result["usage"].get("cost", "")),
        uncertainCreates=int(result.get("uncertain_creates", 0)),
    )
    return OperatorLineage(inputs=inputs, outputs=outputs, run_facets={RUN_FACET: facet})
