"""Extra links on generation tasks: open the generated video from the task's page.

In Airflow 3 a link is read from XCom (key ``_link_<ClassName>``), which the task
pushes on the worker when the generation completes: it works after a deferral and
for every mapped task instance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.types import TaskInstanceKey


class I2VVideoLink(BaseOperatorLink):
    """The first generated video (a temporary signed URL on the real gateway)."""

    name = "Generated video"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        # Airflow 3 resolves links from the XCom pushed by persist(); this is the fallback.
        return ""

    @classmethod
    def persist(cls, context: Context, url: str | None) -> None:
        """Store the link for the UI (nothing is stored when there is no URL)."""
        if url:
            ti: Any = context["ti"]
            ti.xcom_push(key=cls().xcom_key, value=url)
