"""The triggers' events as the worker reads them back, including those of earlier releases."""

from __future__ import annotations

from airflow_provider_i2v.generation.events import outcome_from_event


def test_an_event_of_an_earlier_release_carries_its_raw_answer_and_is_still_read() -> None:
    raw = {
        "id": "g1",
        "status": "completed",
        "output": [{"content": [{"type": "video", "url": "https://cdn/g1.mp4"}]}],
        "usage": {"cost": "0.2800"},
    }
    outcome = outcome_from_event({"status": "completed", "generation_id": "g1", "response": raw}, KeyError)
    assert outcome.completed
    assert outcome.video_urls == ("https://cdn/g1.mp4",)
    assert str(outcome.cost) == "0.2800"
