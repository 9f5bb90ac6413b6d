"""Every error the provider raises, in one module.

Each carries the gateway's error ``code`` (normalised, e.g. ``"010006095"``), its
``message`` and the ``generation_id`` when one exists, so a failed task's log and
an ``on_failure_callback`` can say exactly what happened and which paid
generation it concerns.

Whether Airflow may retry follows from the class:

* :class:`I2VNonRetryableError` and its children derive from
  ``AirflowFailException``: the task fails at once without burning its retries
  (bad input, bad credentials, no balance, a request the gateway refuses). A
  retry could not succeed and a bad request costs nothing.
* Everything else is an ordinary ``AirflowException``: Airflow's retries apply.
  A retry never pays twice for a generation that is running or completed (the
  operator reconnects through ``task_state_store``).

No exception text ever contains the API key.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException


class I2VError(AirflowException):
    """Base class: a message plus the gateway's code and the generation id, when known."""

    def __init__(self, message: str, *, code: str | None = None, generation_id: str | None = None) -> None:
        self.message = message
        self.code = code
        self.generation_id = generation_id
        super().__init__(self._render())

    def _render(self) -> str:
        parts = []
        if self.generation_id:
            parts.append(f"generation {self.generation_id}")
        if self.code:
            parts.append(f"code {self.code}")
        prefix = f"[{', '.join(parts)}] " if parts else ""
        return prefix + self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep keyword-only attributes across pickling (Airflow ships exceptions between processes).
        return (_rebuild, (type(self), self.message, self.code, self.generation_id))


def _rebuild(cls: type[I2VError], message: str, code: str | None, generation_id: str | None) -> I2VError:
    return cls(message, code=code, generation_id=generation_id)


# --- retryable ------------------------------------------------------------------------


class I2VTransientError(I2VError):
    """The gateway could not be reached or kept failing (429/5xx/timeouts) past the retry budget."""


class I2VCreationUncertainError(I2VTransientError):
    """The create request was sent but its answer was lost.

    A generation may have been created and paid for; nothing can tell, because the
    gateway has no way to list or deduplicate creations.
    """


class I2VStateStoreError(I2VError):
    """``task_state_store`` could not be read or written before a create: nothing was sent.

    Not the same fact as "nothing is stored": a retry reads again before it may pay.
    """


class I2VGenerationFailedError(I2VError):
    """The gateway reports the generation failed (codes 010006095..099 and unknown ones).

    A new try submits a new generation (the failed one cost nothing to reuse).
    """


class I2VBatchFailedError(I2VError):
    """Items of a batch did not succeed (the manifest names them); a retry submits only those."""


class I2VTimeoutError(I2VError):
    """The generation did not finish before the deadline. The id stays stored: a retry reconnects."""


class I2VGenerationNotFoundError(I2VError):
    """The gateway does not know this generation id (expired, or another account's)."""


# --- not retryable ----------------------------------------------------------------------


class I2VNonRetryableError(I2VError, AirflowFailException):
    """A failure no retry can fix: the task fails without using its retries."""


class I2VInvalidRequestError(I2VNonRetryableError):
    """Bad input: caught before sending (validation) or refused by the gateway (400/422)."""


class I2VCreationUnresolvedError(I2VCreationUncertainError, I2VNonRetryableError):
    """A create's outcome is unknown and ``on_uncertain_create="fail"``: no try pays again.

    Someone must look at the vendor's console; clearing the task then submits anew.
    """


class I2VWatchedGenerationFailedError(I2VNonRetryableError):
    """A generation watched by ``I2VTaskSensor`` failed: the sensor never resubmits, so no retry helps."""


class I2VConnectionConfigError(I2VNonRetryableError):
    """The ``i2v`` connection cannot be used as configured (no key, a bad extra)."""


class I2VAuthenticationError(I2VNonRetryableError):
    """401: the API key is missing or invalid."""


class I2VPermissionError(I2VNonRetryableError):
    """402/403: insufficient balance or permission denied."""


__all__ = [
    "I2VAuthenticationError",
    "I2VBatchFailedError",
    "I2VConnectionConfigError",
    "I2VCreationUncertainError",
    "I2VCreationUnresolvedError",
    "I2VError",
    "I2VGenerationFailedError",
    "I2VGenerationNotFoundError",
    "I2VInvalidRequestError",
    "I2VNonRetryableError",
    "I2VPermissionError",
    "I2VStateStoreError",
    "I2VTimeoutError",
    "I2VTransientError",
    "I2VWatchedGenerationFailedError",
]


#: Refusals that concern the account or the connection, not one generation: they stop every
#: create of a batch and every wait at once (the creates, the wait loop and the batch use it).
ACCOUNT_REFUSALS: tuple[type[I2VError], ...] = (
    I2VAuthenticationError,
    I2VPermissionError,
    I2VConnectionConfigError,
)
