"""Workflows of the console's own tasks: chains, groups and chords composed as data, checked,
previewed, sent through a Celery app, saved and scheduled. No Streamlit here: the page
(`pages/workflows.py`) and beat's task (`app.tasks.workflow_tasks`) call these functions with the
Celery app and Redis client they hold.

- `model`: `Workflow` / `Step`, the dict shape saved and sent;
- `catalog`: which tasks a step may be, what each takes from and gives to its neighbours;
- `validation`: the checks made before sending;
- `canvas`: Celery signatures, the preview, `send`, the rest of a chain for a retried step;
- `saved`: save, load, run again, schedule.
"""
from app.workflows.canvas import Sent, build, dot, preview, send
from app.workflows.catalog import TASKS, shape, suggest_feed
from app.workflows.model import KINDS, Step, Workflow
from app.workflows.validation import validate

__all__ = ["KINDS", "TASKS", "Sent", "Step", "Workflow", "build", "dot", "preview", "send", "shape",
           "suggest_feed", "validate"]
