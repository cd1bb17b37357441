"""Config section ``monitor``: measuring what buying centers bought after a publication."""

from __future__ import annotations

from pydantic import Field

from xsell.configbase import StrictModel


class MonitorConfig(StrictModel):
    """Uptake of published suggestions on later order lines (``xsell monitor``, the ``monitor``
    stage of ``nightly``)."""

    window_days: int = Field(90, ge=1)
    """Days after a published run's data end (its last order date) in which a purchase of a
    suggested product counts as taken up; a run is measured again as later data comes in until
    the window is complete."""
    trend_runs: int = Field(12, ge=1)
    """Measured runs shown in ``monitoring/uptake_over_runs.png`` and listed in the next published
    run's manifest (``monitoring.trend``)."""
