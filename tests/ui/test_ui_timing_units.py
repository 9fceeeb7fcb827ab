"""The Timing panel reads right: time axes in s/ms/µs (never "mms"), whole-number ticks on
counts, a legend on the throughput lines, a histogram axis in time units, and a selected
range that shows on every time plot and says, in the window, that it filters the rest."""

from __future__ import annotations

import re
from typing import Any

import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTableView, QToolButton

from inspector.ui.panels.timing import TimingPanel
from inspector.ui.viewmodel.store import Store

from ui_support import find, table_rows


def _plain(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def _tick_labels(axis: pg.AxisItem) -> list[tuple[float, str]]:
    """The ticks ``axis`` draws now, as (value, text) for every tick level."""
    low, high = axis.range
    size = axis.geometry().height() if axis.orientation in ("left", "right") else axis.geometry().width()
    found = []
    for spacing, values in axis.tickValues(low, high, size):
        found += zip(values, axis.tickStrings(values, axis.autoSIPrefixScale * axis.scale, spacing))
    return found


def _timing(qtbot: Any, turn_scale: float = 1.0) -> TimingPanel:
    """A timing panel over 20 s of a session: loop turns of 0.2-2.6 ms (times
    ``turn_scale``), 0-3 open connections, bytes flowing, callbacks from 2 µs to 40 ms."""
    store = Store(clock=0.0)
    for tenth in range(200):
        when = tenth / 10
        store.loop_turn(when, (0.0002 + (tenth % 7) * 0.0004) * turn_scale)
        if tenth in (10, 20, 30):
            conn = tenth // 10
            store.connection_opened(conn, when, "client", "EchoClient", f"127.0.0.1:{40000 + conn}", "127.0.0.1:8007")
            store.connection_state(conn, when, "connected")
        if tenth >= 50 and tenth % 10 == 5:
            store.connection_bytes(1, when, "in", 5_000)
        store.sample(when)
    for n, duration in enumerate((2e-6, 3e-6, 40e-6, 41e-6, 45e-6, 700e-6, 2e-3, 40e-3)):
        store.deferred_created(n + 1, 1.0 + n, "x.py:1")
        store.deferred_callback_ran(n + 1, 1.0 + n, "step", "callback", duration, "int", "1", False)
    store.now = 20.0
    panel = TimingPanel(store)
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    qtbot.waitExposed(panel)
    panel.apply_palette()
    panel.redraw()
    qtbot.wait(50)
    return panel


@pytest.fixture
def busy_timing(qtbot: Any) -> TimingPanel:
    return _timing(qtbot)


@pytest.mark.parametrize(("turn_scale", "unit", "top"), [(1.0, "ms", (1, 4)), (0.1, "µs", (100, 400))])
def test_time_axes_are_in_seconds_with_a_correct_prefix(
        qtbot: Any, turn_scale: float, unit: str, top: tuple[float, float]) -> None:
    timing = _timing(qtbot, turn_scale)
    loop_label = _plain(timing.loop_plot.getAxis("left").labelString())
    assert "mms" not in loop_label
    assert f"({unit})" in loop_label, loop_label  # turns of a few ms, or of a few hundred µs
    late_label = _plain(timing.late_plot.getAxis("left").labelString())
    assert "mms" not in late_label and re.search(r"\((ms|µs|s)\)", late_label), late_label
    # Tick texts are numbers in that unit: 2.6 ms reads 2.5 at the top, not 0.0025 or 2500.
    loop_ticks = [float(text) for _value, text in _tick_labels(timing.loop_plot.getAxis("left"))]
    assert top[0] <= max(loop_ticks) <= top[1], loop_ticks


def test_count_axes_have_whole_number_ticks(busy_timing: TimingPanel) -> None:
    for axis in (busy_timing.open_plot.getAxis("left"), busy_timing.hist_plot.getAxis("left")):
        ticks = _tick_labels(axis)
        assert ticks, "no ticks"
        for value, text in ticks:
            assert value == int(value), ticks
            assert re.fullmatch(r"-?\d+", text), ticks


def test_throughput_lines_have_a_legend(busy_timing: TimingPanel) -> None:
    legend = busy_timing.rate_plot.legend
    assert legend is not None
    assert [label.text for _sample, label in legend.items] == ["all connections"]
    busy_timing.show_connection(2)
    assert [label.text for _sample, label in legend.items] == ["all connections", "connection #2"]
    busy_timing.show_connection(None)
    assert [label.text for _sample, label in legend.items] == ["all connections"]


def test_histogram_axis_is_in_time_units(busy_timing: TimingPanel) -> None:
    axis = busy_timing.hist_plot.getAxis("bottom")
    label = _plain(axis.labelString())
    assert "log" not in label
    ticks = _tick_labels(axis)
    texts = [text for _value, text in ticks]
    # Callbacks from 2 µs to 40 ms: ticks on decades (every one, or every other one when
    # the plot is narrow), written as times, spanning the callbacks.
    decades = {-1: "100 ns", 0: "1 µs", 1: "10 µs", 2: "100 µs", 3: "1 ms", 4: "10 ms", 5: "100 ms", 6: "1 s"}
    assert len(ticks) >= 3, texts
    for value, text in ticks:
        assert text == decades[round(value)], texts
    assert ticks[0][0] <= 1 and ticks[-1][0] >= 4, texts
    # Wide enough, every decade gets its label.
    assert [text for _value, text in
            zip(axis.tickValues(-0.5, 5.5, 2000)[0][1], axis.tickStrings(axis.tickValues(-0.5, 5.5, 2000)[0][1], 1, 1))
            ] == ["1 µs", "10 µs", "100 µs", "1 ms", "10 ms", "100 ms"]


def test_selected_range_shows_on_every_time_plot_and_in_a_banner_that_clears_it(
        window: Any, qtbot: Any) -> None:
    store = window.store
    store.add_log(store.origin + 0.5, "WARNING", "test", "early warning")
    window.show_dock("Timing")
    window.refresh()
    log_table = find(window, QTableView, "log.table")
    assert ["early warning"] == [row[3] for row in table_rows(log_table) if row[3] == "early warning"]
    banner_text = find(window, QLabel, "range.banner.text")
    assert not banner_text.isVisible()

    window.timing.select_range(100.0, 110.0)  # as dragging the region there would

    for plot in window.timing.time_plots:
        regions = [item for item in plot.items if isinstance(item, pg.LinearRegionItem)]
        assert len(regions) == 1 and regions[0].isVisible()
        assert regions[0].getRegion() == pytest.approx((100.0, 110.0))
    assert banner_text.isVisible()
    assert "100.0–110.0 s" in banner_text.text()
    assert "Filtered" in banner_text.text()
    window.refresh()
    assert not [row for row in table_rows(log_table) if row[3] == "early warning"]
    qtbot.wait(50)
    window.grab().save("/tmp/timing-range-window.png")

    # Dragging one plot's region moves the others with it.
    window.timing.regions[window.timing.rate_plot].setRegion((50.0, 60.0))
    for region in window.timing.regions.values():
        assert region.getRegion() == pytest.approx((50.0, 60.0))

    qtbot.mouseClick(find(window, QToolButton, "range.banner.clear"), Qt.MouseButton.LeftButton)
    window.refresh()
    assert not banner_text.isVisible()
    assert not window.timing.range_box.isChecked()
    for plot in window.timing.time_plots:
        assert not [item for item in plot.items if isinstance(item, pg.LinearRegionItem)]
    assert [row[3] for row in table_rows(log_table) if row[3] == "early warning"] == ["early warning"]


def test_value_labels_do_not_overlap_when_the_dock_is_short(qtbot: Any) -> None:
    timing = _timing(qtbot)
    timing.resize(900, 300)  # the Timing dock's height in the default 1440×900 window
    qtbot.wait(50)
    timing.redraw()
    qtbot.wait(50)
    for plot in timing.time_plots:
        axis = plot.getAxis("left")
        values = sorted(value for value, _text in _tick_labels(axis))
        assert values, plot
        low, high = axis.range
        pixels_per_unit = axis.geometry().height() / (high - low)
        gaps = [(b - a) * pixels_per_unit for a, b in zip(values, values[1:])]
        assert all(gap >= 14 for gap in gaps), (gaps, axis.geometry().height())
        # The plot is tall enough to show a scale at all: a tick above zero.
        assert max(values) > 0, values
