"""Extra links on generation tasks: open the generated video from the task's page.

In Airflow 3 the worker calls ``get_link`` once the task finishes and stores the
answer in XCom (key ``_link_<ClassName>``), where the UI reads it. The link is
derived from the task's own ``video_urls`` XCom, so it works after a deferral, for
every mapped task instance, and for the operator and the sensor alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperatorLink

from airflow_provider_i2v.generation.keys import XCOM_VIDEO_URLS

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey


class I2VVideoLink(BaseOperatorLink):
    """The first generated video (a temporary signed URL on the real gateway)."""

    name = "Generated video"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.bases.xcom import BaseXCom

        urls = BaseXCom.get_value(ti_key=ti_key, key=XCOM_VIDEO_URLS)  # type: ignore[arg-type]
        return str(urls[0]) if isinstance(urls, list) and urls else ""


class I2VBatchManifestLink(BaseOperatorLink):
    """The batch's manifest (``manifest.jsonl`` in ``output_dir``), when one was written."""

    name = "Batch manifest"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.bases.xcom import BaseXCom

        uri = BaseXCom.get_value(ti_key=ti_key, key="manifest_uri")  # type: ignore[arg-type]
        return str(uri) if isinstance(uri, str) else ""
