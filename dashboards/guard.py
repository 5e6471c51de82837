"""Where the dashboard may be reached from: this machine only, with no usage statistics, unless asked.

Streamlit reads `.streamlit/config.toml` from the directory it is started in, so `streamlit run
/path/to/dashboards/app.py` started elsewhere binds every interface (IPv4 and IPv6) and turns
usage statistics on. The launcher (`python -m dashboards`) sets the options on the command line,
which wins wherever it is started; `app.py` calls `exposure_problem` and shows no run data when
the server is bound beyond loopback (or reports usage) without the deliberate opt-in
`SEEDLING_DASHBOARD_EXPOSE=1`, which `python -m dashboards --address ADDR --expose` sets.
"""

from __future__ import annotations

__all__ = ["EXPOSE_ENV", "LOOPBACK", "SAFE_OPTIONS", "exposure_problem"]

EXPOSE_ENV = "SEEDLING_DASHBOARD_EXPOSE"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# What the launcher passes to `streamlit run`; the same as the repository's .streamlit/config.toml.
SAFE_OPTIONS = {
    "server.address": "127.0.0.1",
    "server.headless": "true",
    "browser.gatherUsageStats": "false",
    "client.toolbarMode": "viewer",
}


def exposure_problem(address: str | None, gather_usage_stats: bool, opted_in: bool) -> str | None:
    """Why the server must not show run data as configured, or None when it may.

    >>> exposure_problem("127.0.0.1", False, False) is None
    True
    >>> exposure_problem("", False, False)[:40]
    'the server listens on every network inte'
    >>> exposure_problem("0.0.0.0", False, True) is None
    True
    """
    if opted_in:
        return None
    if not address:
        return ("the server listens on every network interface (streamlit's default, used when it is started "
                "outside the repository root)")
    if address not in LOOPBACK:
        return f"the server listens on {address}, not only on this machine"
    if gather_usage_stats:
        return "streamlit's usage statistics are on"
    return None
