"""The suite's warning policy (pyproject's ``filterwarnings``): a DeprecationWarning
attributed to the provider's own code fails the test that raised it; one attributed to
another package (Airflow's, a library's) does not."""

from __future__ import annotations

import warnings

import pytest


def _warn_from(module: str) -> None:
    warnings.warn_explicit(
        "this call is deprecated", DeprecationWarning, filename=f"{module}.py", lineno=1, module=module
    )


@pytest.mark.parametrize("module", ["airflow_provider_i2v", "airflow_provider_i2v.hooks.i2v"])
def test_a_deprecation_in_the_providers_code_is_an_error(module: str) -> None:
    with pytest.raises(DeprecationWarning, match="deprecated"):
        _warn_from(module)


@pytest.mark.parametrize("module", ["airflow.sdk.definitions.dag", "httpx._client"])
def test_a_deprecation_elsewhere_is_not(module: str) -> None:
    _warn_from(module)  # ignored: raises nothing
