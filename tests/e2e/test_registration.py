"""Airflow's own CLI lists the provider's parts (registration through the entry point)."""

from __future__ import annotations

from dev.airflow_stack import AirflowStack


def test_airflow_providers_cli_lists_every_part(airflow_stack: AirflowStack) -> None:
    def run(*args: str) -> str:
        return airflow_stack.cli("providers", *args, "--output", "plain").stdout

    assert "airflow-provider-i2v" in run("list")
    hooks = run("hooks")
    assert "airflow_provider_i2v.hooks.i2v.I2VHook" in hooks
    assert "Image to Video (Vtrix)" in hooks
    assert "airflow_provider_i2v.triggers.i2v" in run("triggers")
    assert "airflow_provider_i2v.links.i2v.I2VVideoLink" in run("links")
    assert "i2v" in run("behaviours").split()
