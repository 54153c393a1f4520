"""Create (once) and print the login of the local Airflow UI (Airflow's simple auth manager).

The simple auth manager reads passwords from this JSON file and only generates one for users it
does not find there; writing it first lets `make ui` print the login before the server starts.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path


def main(path: str) -> None:
    users = os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin")
    names = [entry.split(":")[0] for entry in users.split(",") if entry.strip()]
    file = Path(path)
    passwords = json.loads(file.read_text()) if file.exists() and file.read_text().strip() else {}
    for name in names:
        passwords.setdefault(name, secrets.token_urlsafe(12))
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(passwords) + "\n")
    file.chmod(0o600)
    print(f"Airflow UI: http://localhost:{os.environ.get('AIRFLOW__API__PORT', '8080')}")
    for name in names:
        print(f"  login: {name} / {passwords[name]}")
    print("  trigger the DAG 'datacentric_pipeline' (the manifest is a Param of the trigger form)")


if __name__ == "__main__":
    main(sys.argv[1])
