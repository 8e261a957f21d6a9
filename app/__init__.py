"""Operator console for a Celery task system (see README.md)."""
