"""The timing plots' axes survive a teardown that frees a view box first.

pyqtgraph's axis reads its view box's geometry in ``boundingRect``, a C++ override; if
that raises while Qt tears the window down, Qt aborts the process ("pure virtual method
called"), which once killed the whole test run. Every axis of the panel must answer.
"""

from __future__ import annotations

from typing import Any

import shiboken6

from inspector.ui.panels.timing import TimingPanel
from inspector.ui.viewmodel.store import Store


def test_every_axis_answers_after_its_view_box_is_deleted(qtbot: Any) -> None:
    panel = TimingPanel(Store())
    qtbot.addWidget(panel)
    plots = (*panel.time_plots, panel.hist_plot)
    axes = [plot.getAxis(side) for plot in plots for side in ("left", "bottom")]
    for plot in plots:
        shiboken6.delete(plot.getViewBox())
    for axis in axes:
        axis.boundingRect()  # raised RuntimeError (C++ ViewBox already deleted) before
