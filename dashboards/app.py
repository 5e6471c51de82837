"""Seedling Workbench dashboard: navigation only; each page lives in dashboards/app_pages/.

    python -m dashboards                            # runs under ./runs, on 127.0.0.1 only
    python -m dashboards --runs DIR                 # a run directory, or a directory of runs

The launcher binds 127.0.0.1 and turns usage statistics off wherever it is started. Started any
other way, the app shows no run data while the server listens beyond this machine or reports
usage statistics, unless SEEDLING_DASHBOARD_EXPOSE=1 says that is deliberate (dashboards/guard.py;
`python -m dashboards --address 0.0.0.0 --expose` sets it).
"""

import os
import sys
from pathlib import Path

import streamlit as st

# `streamlit run dashboards/app.py` puts dashboards/ (not the repository root) on sys.path.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Not "pages/": a folder of that name beside the entry file puts streamlit in its legacy multipage
# mode, which ignores st.navigation.
PAGES = Path(__file__).parent / "app_pages"

st.set_page_config(page_title="Seedling Workbench", layout="wide")

from dashboards.guard import EXPOSE_ENV, exposure_problem  # noqa: E402 (needs the sys.path entry above)

problem = exposure_problem(st.get_option("server.address"), bool(st.get_option("browser.gatherUsageStats")),
                           os.environ.get(EXPOSE_ENV) == "1")
if problem:
    st.error(f"Not showing any run: {problem}. Start the dashboard with `python -m dashboards` (this machine "
             f"only, no usage statistics), or set {EXPOSE_ENV}=1 to expose it deliberately.")
    st.stop()
st.navigation({
    "Computational level": [st.Page(PAGES / "overview.py", title="Overview", url_path="overview", default=True),
                            st.Page(PAGES / "constructs.py", title="Constructs", url_path="constructs")],
    "Implementation level": [st.Page(PAGES / "parameters.py", title="Parameters", url_path="parameters"),
                             st.Page(PAGES / "activations.py", title="Activations", url_path="activations")],
    "Algorithmic level": [st.Page(PAGES / "heads.py", title="Attention heads", url_path="heads"),
                          st.Page(PAGES / "circuits.py", title="Circuits", url_path="circuits")],
    "Across levels": [st.Page(PAGES / "analyses.py", title="Analyses", url_path="analyses"),
                      st.Page(PAGES / "compare.py", title="Compare runs", url_path="compare"),
                      st.Page(PAGES / "generate.py", title="Generate", url_path="generate")],
}).run()

# After the page is drawn, not before: the analyses' scipy import (on the server) and Plotly's bundle (in
# the browser) would otherwise delay the first page.
from dashboards import preload, ui  # noqa: E402 (needs the sys.path entry above)

ui.import_in_background("workbench")
preload.preload_plotly()
