"""Session-scoped servers stopped right after the last test that needs them (a pytest plugin listed in
tests/conftest.py), instead of at the end of the run: an idle stack, RabbitMQ node or worker would
otherwise take CPU from every test after its last user.

A session fixture calls `stop_after_last_use(request, names, stop)` once it has started its server;
the last test of the run whose fixtures (transitive ones included, `item.fixturenames`) include one
of `names` then calls `stop()` in its teardown. A fixture requested only through
`request.getfixturevalue` is not in `item.fixturenames`: name the fixture that requests it too.
`stop` must be safe to call again (the fixture's own teardown calls it at the end of the run).
"""
from __future__ import annotations

from typing import Callable

import pytest

_PENDING = pytest.StashKey[list]()


def stop_after_last_use(request: pytest.FixtureRequest, names: set[str] | frozenset[str],
                        stop: Callable[[], None]) -> None:
    """Call `stop` after the teardown of the run's last test that uses any fixture in `names`."""
    request.config.stash.setdefault(_PENDING, []).append({"names": frozenset(names), "stop": stop, "last": None})


def users(items, names: frozenset[str]) -> list:
    """The items among `items` whose fixtures include one of `names`."""
    return [i for i in items if names & set(getattr(i, "fixturenames", ()))]


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    pending = item.config.stash.get(_PENDING, [])
    for entry in reversed(list(pending)):  # the last started is stopped first (it may use an earlier one)
        if entry["last"] is None:
            found = users(item.session.items, entry["names"])
            entry["last"] = found[-1] if found else item
        if item is entry["last"]:
            pending.remove(entry)
            entry["stop"]()
