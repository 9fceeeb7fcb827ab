"""The timing panel: pyqtgraph plots of the loop, timers, throughput and callbacks.

The four time plots share one x axis (seconds since the session began). Ticking
"Select range" puts a draggable region on them; the region filters the other panels
to what happened inside it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QApplication, QCheckBox, QGraphicsItem, QGraphicsView, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from inspector.ui.store import Series, Store

#: Seconds of history the time plots show while following the present.
WINDOW = 120.0

#: Plots redraw at most this often (every Nth window refresh), and only when visible.
REDRAW_EVERY = 15


def _xy(series: Series, origin: float, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    times = np.fromiter(series.times, dtype=float, count=len(series)) - origin
    values = np.fromiter(series.values, dtype=float, count=len(series)) * scale
    return times, values


class TimingPanel(QWidget):
    """Loop turn duration, timer lateness, bytes/s, open connections, callback histogram."""

    range_selected = Signal(object)  # (start, end) in store time, or None

    def __init__(self, store: Store, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("timing")
        self.store = store
        self.connection_id: int | None = None
        self._ticks = 0
        self._marks: dict[Any, Any] = {}
        self._auto_x = True
        self._last_end = 0.0
        pg.setConfigOptions(antialias=False, background=None, foreground=self.palette().text().color())

        self.graphs = pg.GraphicsLayoutWidget()
        self.graphs.setObjectName("timing.graphs")
        # pyqtgraph repaints the view once for new data and again for the ranges it
        # settles during that paint; the panel asks for exactly one repaint per redraw
        # (and on the user's own panning, zooming and region dragging).
        self.graphs.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.NoViewportUpdate)
        self.loop_plot = self._plot("Loop turn", "ms", row=0)
        self.late_plot = self._plot("Timer lateness", "ms", row=1)
        self.rate_plot = self._plot("Throughput", "B/s", row=2)
        self.open_plot = self._plot("Open connections", "", row=3)
        self.hist_plot = self.graphs.addPlot(row=0, col=1, rowspan=4, title="Callback durations")
        self.hist_plot.setLabel("bottom", "log10 µs")
        self.hist_plot.setLabel("left", "callbacks")
        for plot in (self.late_plot, self.rate_plot, self.open_plot):
            plot.setXLink(self.loop_plot)
        for plot in (self.loop_plot, self.late_plot, self.rate_plot, self.open_plot, self.hist_plot):
            # Axis labels are the costliest thing pyqtgraph draws: keep each axis (and
            # title) as a pixmap, redrawn only when its range or style changes.
            for side in ("left", "bottom"):
                plot.getAxis(side).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            plot.titleLabel.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.graphs.ci.layout.setColumnStretchFactor(0, 3)
        self.graphs.ci.layout.setColumnStretchFactor(1, 1)

        self.loop_curve = self.loop_plot.plot(pen=pg.mkPen((60, 130, 220), width=1))
        self.late_curve = self.late_plot.plot(pen=pg.mkPen((230, 140, 30), width=1))
        self.rate_curve = self.rate_plot.plot(pen=pg.mkPen((40, 170, 70), width=2), name="total")
        self.conn_rate_curve = self.rate_plot.plot(pen=pg.mkPen((200, 60, 200), width=1), name="selected")
        self.open_curve = self.open_plot.plot(pen=pg.mkPen((120, 120, 220), width=2), stepMode=None)
        self.hist_bars = pg.BarGraphItem(x=[], height=[], width=0.2, brush=(60, 130, 220, 160))
        self.hist_plot.addItem(self.hist_bars)

        self.region = pg.LinearRegionItem(brush=(60, 130, 220, 40))
        self.region.setZValue(10)
        self.region.sigRegionChangeFinished.connect(self._region_moved)
        self.region.sigRegionChanged.connect(self._repaint)
        for plot in (self.loop_plot, self.late_plot, self.rate_plot, self.open_plot, self.hist_plot):
            plot.getViewBox().sigRangeChangedManually.connect(self._repaint)
        self.range_box = QCheckBox("Select range", objectName="timing.range")
        self.range_box.setAccessibleName("Select a time range")
        self.range_box.setToolTip("Drag the shaded region to filter connections, Deferreds and the log")
        self.range_box.toggled.connect(self._range_toggled)
        self.summary = QLabel(objectName="timing.summary")

        bar = QHBoxLayout()
        bar.addWidget(self.range_box)
        bar.addWidget(self.summary, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.graphs, 1)

    def _plot(self, title: str, unit: str, row: int) -> pg.PlotItem:
        plot = self.graphs.addPlot(row=row, col=0, title=title)
        plot.titleLabel.setMaximumHeight(18)
        plot.setTitle(title, size="9pt")
        if unit:
            plot.setLabel("left", units=unit)
        plot.showGrid(x=False, y=True, alpha=0.15)
        plot.setMouseEnabled(x=True, y=False)
        # Ranges are set here, not by pyqtgraph's auto-range, which repaints twice.
        plot.enableAutoRange(x=False, y=False)
        if row == 3:
            plot.setLabel("bottom", "seconds")
        else:
            plot.hideAxis("bottom")  # the x axes are linked: one scale, under the last plot
        return plot

    def apply_palette(self) -> None:
        """Follow the window's palette (light or dark) in the plots' background and axes."""
        palette = QApplication.palette()
        self.graphs.setBackground(palette.base().color())
        text = palette.text().color()
        for plot in (self.loop_plot, self.late_plot, self.rate_plot, self.open_plot, self.hist_plot):
            for side in ("left", "bottom"):
                axis = plot.getAxis(side)
                axis.setPen(text)
                axis.setTextPen(text)
            plot.setTitle(plot.titleLabel.text, size="9pt", color=text.name())
        self._repaint()

    def set_store(self, store: Store) -> None:
        """Plot another store's samples."""
        self.store = store
        self.range_box.setChecked(False)
        self.redraw()

    def show_connection(self, conn_id: int | None) -> None:
        """Overlay the selected connection's bytes/s on the throughput plot."""
        self.connection_id = conn_id
        self.redraw()

    def refresh(self) -> None:
        """Redraw now and then, and only while the panel is visible."""
        self._ticks += 1
        if self._ticks % REDRAW_EVERY == 0 and self.isVisible():
            self.redraw(force=False)

    def redraw(self, force: bool = True) -> None:
        """Give the curves the store's samples (only those that changed, unless ``force``)."""
        store = self.store
        origin = store.origin
        rates = store.connection_rates.get(self.connection_id) if self.connection_id is not None else None
        start = self._follow_time()
        tops: dict[Any, float] = {}
        for plot, curve, series, scale in (
            (self.loop_plot, self.loop_curve, store.loop_turns, 1e3),
            (self.late_plot, self.late_curve, store.timer_lateness, 1e3),
            (self.rate_plot, self.rate_curve, store.throughput, 1.0),
            (self.rate_plot, self.conn_rate_curve, rates, 1.0),
            (self.open_plot, self.open_curve, store.open_counts, 1.0),
        ):
            # Each curve is redrawn only when its series moved: a repaint of the plots
            # costs more than anything else in a frame.
            mark = (id(series), len(series), series.times[-1], series.values[-1], start) if series else (id(series), 0)
            changed = force or self._marks.get(curve) != mark
            self._marks[curve] = mark
            if not series:
                if changed:
                    curve.setData([], [])
                continue
            xs, ys = _xy(series, origin, scale)
            if changed:
                curve.setData(xs, ys)
            shown = ys[xs >= start]
            tops[plot] = max(tops.get(plot, 0.0), float(shown.max()) if len(shown) else 0.0)
        for plot, top in tops.items():
            top = top * 1.1 or 1.0
            low, high = plot.viewRange()[1]
            if abs(high - top) > 0.05 * top or low != 0:
                plot.setYRange(0, top, padding=0)
        hist_mark = (store.time_range, int(store.now), bool(store.callback_durations))  # once a second
        if force or self._marks.get(self.hist_bars) != hist_mark:
            self._marks[self.hist_bars] = hist_mark
            self._draw_histogram()
        self._repaint()
        turns = store.loop_turns
        if len(turns):
            recent = list(turns.values)[-100:]
            self.summary.setText(
                f"loop turns: {turns.count:,}   worst per 0.1 s over the last 10 s: median "
                f"{np.median(recent) * 1e3:.2f} ms, max {max(recent) * 1e3:.1f} ms   "
                f"callbacks: {len(store.callback_durations):,}"
            )

    def _repaint(self, *_: Any) -> None:
        self.graphs.viewport().update()

    def _follow_time(self) -> float:
        """Show the last ``WINDOW`` seconds, unless the user has scrolled or zoomed away.

        Returns where the shown time range starts.
        """
        end = max(self.store.now - self.store.origin, 1.0)
        low, high = self.loop_plot.viewRange()[0]
        if self._auto_x or abs(high - self._last_end) < 0.5:
            low = max(0.0, end - WINDOW)
            self.loop_plot.setXRange(low, end, padding=0)
            self._auto_x = False
        self._last_end = end
        return low

    def _draw_histogram(self) -> None:
        store = self.store
        durations = np.fromiter(store.callback_durations, dtype=float, count=len(store.callback_durations))
        if store.time_range is not None and len(durations):
            times = np.fromiter(store.callback_times, dtype=float, count=len(store.callback_times))
            lo, hi = store.time_range
            durations = durations[(times >= lo) & (times <= hi)]
        if len(durations):
            logs = np.log10(np.maximum(durations, 1e-7) * 1e6)
            heights, edges = np.histogram(logs, bins=30)
            self.hist_bars.setOpts(x=(edges[:-1] + edges[1:]) / 2, height=heights, width=(edges[1] - edges[0]) * 0.9)
        else:
            self.hist_bars.setOpts(x=[], height=[])

    def _range_toggled(self, on: bool) -> None:
        if on:
            low, high = self.loop_plot.viewRange()[0]
            span = high - low
            self.region.setRegion((low + span * 0.6, low + span * 0.9))
            self.loop_plot.addItem(self.region)
            self._region_moved()
        else:
            self.loop_plot.removeItem(self.region)
            self.range_selected.emit(None)

    def _region_moved(self) -> None:
        if not self.range_box.isChecked():
            return
        low, high = self.region.getRegion()
        self.range_selected.emit((self.store.origin + low, self.store.origin + high))

    def select_range(self, start: float, end: float) -> None:
        """Select [start, end] seconds since the session began (as dragging would)."""
        if not self.range_box.isChecked():
            self.range_box.setChecked(True)
        self.region.setRegion((start, end))
        self._region_moved()
