"""The hostname a worker of `make stack` reports to Airflow ([core] hostname_callable).

The stack's workers stand for separate machines but run on one: each gets its own name (STACK_HOSTNAME,
set by scripts/stack.sh), which Airflow records on every task instance the worker runs."""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("STACK_HOSTNAME") or socket.getfqdn()
