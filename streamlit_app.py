"""Console entry point: the sign-in gate (app.ui.auth), then navigation over the pages in pages/.

Run with ``streamlit run streamlit_app.py`` (``make run`` does this for you). Streamlit runs this
file twice over: imported as a module, it only defines ``app``, the ``st.App`` that serves this same
script plus the console's cookie routes (`app.ui.session_routes`; `streamlit run` finds ``app`` and
serves it); run as the page script (``__main__``), it draws the console.
"""
from pathlib import Path

import streamlit as st

PAGES_DIR = Path(__file__).parent / "pages"
#: (file in pages/, title, icon); a page appears once its file exists.
PAGES = [
    ("task_monitor.py", "Task Monitor", ":material/monitoring:"),
    ("file_processing.py", "File Processing", ":material/description:"),
    ("email.py", "Email", ":material/mail:"),
    ("ai.py", "AI", ":material/smart_toy:"),
    ("reports.py", "Reports", ":material/analytics:"),
    ("schedules.py", "Schedules", ":material/schedule:"),
    ("workflows.py", "Workflows", ":material/account_tree:"),
    ("audit.py", "Users & audit", ":material/policy:"),
    ("alerts.py", "Alerts", ":material/notifications:"),
    ("issues.py", "Issues", ":material/bug_report:"),
]

if __name__ == "__main__":
    from app.ui.alert_forms import evaluation_banner
    from app.ui.auth import require_login

    st.set_page_config(page_title="Celery Console", page_icon=":material/hub:", layout="wide")
    require_login()
    evaluation_banner()  # every page: alert evaluation late (beat or its worker down)
    nav = st.navigation([st.Page(str(PAGES_DIR / f), title=t, icon=i, url_path=Path(f).stem)
                         for f, t, i in PAGES if (PAGES_DIR / f).exists()])
    nav.run()
else:
    from streamlit import config as _config

    from app.ui import session_routes

    _base = (_config.get_option("server.baseUrlPath") or "").strip("/")
    app = st.App(__file__, routes=session_routes.routes(f"/{_base}" if _base else ""))
