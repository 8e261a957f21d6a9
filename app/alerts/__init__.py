"""Alerts: rules stored in Redis (rules), their checks (checks), evaluation and state (engine),
history (events), and delivery by e-mail and webhook (webhook, notify)."""
