"""How library errors become task failures: bad input fails at once, everything else may retry."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def fail_fast_on_bad_input(method: Callable[P, R]) -> Callable[P, R]:
    """Wrap an operator's `execute` (or `execute_complete`): the library's `InputError` (a bad
    manifest, a bad Param, a missing label task, a failed gate) becomes `AirflowFailException`
    with the library's message, so Airflow does not retry what a retry cannot fix. Other errors
    (network, lock timeouts, a killed worker) keep the task's retries."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from datacentric.errors import InputError

        try:
            return method(*args, **kwargs)
        except InputError as exc:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc

    return wrapper
