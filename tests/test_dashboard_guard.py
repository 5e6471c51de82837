"""The dashboard listens on this machine only, with usage statistics off, wherever it is started."""

import subprocess
import sys
from pathlib import Path

from dashboards import __main__ as launcher
from dashboards.guard import exposure_problem

REPO = Path(__file__).resolve().parents[1]


def test_launcher_passes_loopback_and_no_telemetry_on_the_command_line():
    argv = launcher.streamlit_argv(launcher.build_parser().parse_args(["--runs", "r", "--port", "8600"]))
    assert "--server.address=127.0.0.1" in argv and "--browser.gatherUsageStats=false" in argv
    assert "--server.port=8600" in argv and argv[-2:] == ["--runs", "r"]


def test_launcher_refuses_a_wider_address_without_expose(capsys):
    assert launcher.main(["--address", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--expose" in err


def test_app_refuses_to_show_runs_when_bound_wider_or_reporting_usage():
    assert exposure_problem("127.0.0.1", False, False) is None
    assert "every network interface" in exposure_problem(None, False, False)
    assert "0.0.0.0" in exposure_problem("0.0.0.0", False, False)
    assert "usage statistics" in exposure_problem("::1", True, False)
    assert exposure_problem("0.0.0.0", True, True) is None  # SEEDLING_DASHBOARD_EXPOSE=1: deliberate


def test_started_outside_the_repository_the_app_shows_no_runs(tmp_path):
    """What `cd /tmp && streamlit run /path/dashboards/app.py` gets: streamlit's defaults, so the guard's error."""
    code = ("from streamlit.testing.v1 import AppTest; import sys; sys.argv = ['app.py', '--runs', '.'];"
            f"at = AppTest.from_file({str(REPO / 'dashboards' / 'app.py')!r}, default_timeout=60).run();"
            "print('ERROR:' + ' '.join(e.value for e in at.error))")
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "Not showing any run" in res.stdout, res.stdout + res.stderr[-2000:]
