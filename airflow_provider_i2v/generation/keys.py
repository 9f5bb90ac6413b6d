"""The names under which a generation's facts travel: XCom keys and result keys, in one place."""

from __future__ import annotations

#: XCom: the generation id, pushed as soon as it is stored (before the wait).
XCOM_GENERATION_ID = "generation_id"
#: XCom: the batch's generation ids, by item index (``None`` for items without one).
XCOM_GENERATION_IDS = "generation_ids"
#: XCom: the completed generation's video links and usage (the extra link reads the links).
XCOM_VIDEO_URLS = "video_urls"
XCOM_USAGE = "usage"
#: XCom: what went wrong, pushed when a try fails with a provider error.
XCOM_ERROR = "error"
#: XCom: the batch manifest's URI (its extra link reads it).
XCOM_MANIFEST_URI = "manifest_uri"

#: Keys of a result (the ``return_value``) and of a usage dict.
RESULT_COST = "cost"
RESULT_UNCERTAIN_CREATES = "uncertain_creates"
RESULT_VIDEO_FILES = "video_files"
RESULT_FILES = "files"
