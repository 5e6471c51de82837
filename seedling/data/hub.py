"""Hugging Face hub access: fail at once when offline, else stream a dataset's text within a budget."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlparse

from seedling.data.errors import DataError

__all__ = ["hub_reachable", "stream_hub_documents"]

_OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
_PROBE_SECONDS = 5.0

log = logging.getLogger(__name__)


def hub_reachable(timeout: float = _PROBE_SECONDS) -> tuple[bool, str]:
    """Whether a TCP connection to the hub opens within `timeout` seconds, and why not.

    The probe runs in a daemon thread because name resolution ignores socket timeouts; a machine
    without network must get an answer in seconds, not after minutes of retries.
    """
    for var in _OFFLINE_VARS:
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return False, f"{var}={os.environ[var]} is set"
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    result: list[str] = []

    def probe() -> None:
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            result.append("")
        except OSError as e:
            result.append(f"cannot connect to {host}: {e}")

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    if not result:
        return False, f"no answer from {host} within {timeout:g} s"
    return (not result[0]), result[0]


def stream_hub_documents(name: str, config: str | None, text_field: str, max_bytes: int | None) -> Iterator[str]:
    """Texts of the `train` split of hub dataset `name`, streamed, until `max_bytes` of UTF-8 text."""
    ok, why = hub_reachable()
    if not ok:
        raise DataError(
            f"the Hugging Face hub is unreachable ({why}); to train offline use local files instead: "
            "--data path/to/folder (.txt, .md or .jsonl files) or --data builtin"
        )
    import datasets  # imported here: slow to import, and only this source needs it

    try:
        stream = datasets.load_dataset(name, config, split="train", streaming=True)
    except Exception as e:  # datasets raises many types (not found, gated, bad config...)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"cannot open hub dataset {name!r} (config {config!r}): {first}") from None
    if max_bytes is None:
        log.warning("data.max_bytes is unset: streaming the whole train split of %s", name)
    used = 0
    for row in stream:
        if text_field not in row:
            raise DataError(f"hub dataset {name!r} has no column {text_field!r} (found {sorted(row)}); set data.text_field")
        text = str(row[text_field])
        n = len(text.encode("utf-8"))
        if max_bytes is not None and used + n > max_bytes:
            return
        used += n
        if text.strip():
            yield text
