"""The timing panel: pyqtgraph plots of the loop, timers, throughput and callbacks.

The four time plots share one x axis (seconds since the session began). Ticking
"Select range" puts a draggable region on each of them (dragging one moves all); the
region filters the other panels, and the callback histogram, to what happened inside it.
Times are plotted in seconds with unit "s", so pyqtgraph's SI prefixes read "ms", "µs".
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QGraphicsItem,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from inspector.ui.viewmodel.store import Series, Store
from inspector.ui.widgets import named, on_screen

#: Seconds of history the time plots show while following the present.
WINDOW = 120.0

#: Plots redraw at most this often (every Nth window refresh), and only when visible.
REDRAW_EVERY = 15


#: Histogram bins per decade of callback duration.
BINS_PER_DECADE = 5


def format_decade(exponent: int) -> str:
    """``10**exponent`` microseconds as a person writes it: "100 ns", "1 µs", "10 ms", "1 s"."""
    seconds = 10.0 ** (exponent - 6)
    for unit, size in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= size * 0.999:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds / 1e-9:g} ns"


class SafeAxis(pg.AxisItem):
    """An axis that survives its view box being deleted first while the window closes.

    pyqtgraph's axis asks its linked view box for its size inside ``boundingRect``; when
    Qt deletes the plots in an order that frees the view box first, that call raises
    inside a C++ override and Qt aborts the whole process ("pure virtual method
    called"). An empty rectangle is the truthful answer for an axis with nothing to draw.
    """

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        try:
            return super().boundingRect()
        except RuntimeError:  # the linked ViewBox's C++ object is already gone
            return QRectF()


class RoomyAxis(SafeAxis):
    """A value axis whose tick labels never overlap: one level of ticks (1, 2 or 5 × 10ⁿ)
    at least :attr:`MIN_PIXELS` apart, however short the plot is made."""

    #: The least distance between two labelled ticks (a label is about 12 px high).
    MIN_PIXELS = 16
    #: The least step between ticks, in the axis's units.
    least_step = 0.0

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, float]]:  # noqa: N802
        span = abs(maxVal - minVal)
        if span <= 0 or size <= 0:
            return super().tickSpacing(minVal, maxVal, size)
        least = max(span * self.MIN_PIXELS / size, self.least_step)
        power = 10.0 ** math.floor(math.log10(least))
        step = next(m * power for m in (1, 2, 5, 10) if m * power >= least * 0.999)
        return [(step, 0.0)]


class CountAxis(RoomyAxis):
    """An axis for counts (connections, callbacks): ticks on whole numbers only."""

    least_step = 1.0


class DecadeTimeAxis(SafeAxis):
    """An axis over log10(duration in µs), ticked at each decade and labelled in time units."""

    #: The least room, in pixels, one decade's label gets ("100 µs" is about 45).
    MIN_LABEL_SPACING = 55

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, list[float]]]:  # noqa: N802
        low, high = sorted((minVal, maxVal))
        per_decade = size / max(high - low, 1e-9)
        step = max(1, math.ceil(self.MIN_LABEL_SPACING / max(per_decade, 1e-9)))  # every 2nd, 3rd... when narrow
        return [(float(step), [float(n) for n in range(math.ceil(low), math.floor(high) + 1) if n % step == 0])]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        return [format_decade(round(value)) for value in values]


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
        self._shown = False  # on screen at the last refresh
        self._marks: dict[Any, Any] = {}
        self._auto_x = True
        self._last_end = 0.0
        self._title_color = ""
        pg.setConfigOptions(antialias=False, background=None, foreground=self.palette().text().color())

        self.graphs = pg.GraphicsLayoutWidget()
        self.graphs.setObjectName("timing.graphs")
        # pyqtgraph repaints the view once for new data and again for the ranges it
        # settles during that paint; the panel asks for exactly one repaint per redraw
        # (and on the user's own panning, zooming and region dragging).
        self.graphs.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.NoViewportUpdate)
        self.names: dict[Any, pg.LabelItem] = {}
        self.loop_plot = self._plot("Loop turn", "s", row=0, left=RoomyAxis("left"))
        self.late_plot = self._plot("Timer lateness", "s", row=1, left=RoomyAxis("left"))
        self.rate_plot = self._plot("Throughput", "B/s", row=2, left=RoomyAxis("left"))
        self.open_plot = self._plot("Open connections", "", row=3, left=CountAxis("left"))
        self.time_plots = (self.loop_plot, self.late_plot, self.rate_plot, self.open_plot)
        self.hist_plot = self.graphs.addPlot(
            row=0, col=1, rowspan=4, title="Callback durations",
            axisItems={"bottom": DecadeTimeAxis("bottom"), "left": CountAxis("left")})
        self.hist_plot.setLabel("bottom", "duration")
        self.hist_plot.setLabel("left", "callbacks")
        self.hist_plot.setMouseEnabled(x=False, y=False)
        for plot in (self.late_plot, self.rate_plot, self.open_plot):
            plot.setXLink(self.loop_plot)
        for plot in (*self.time_plots, self.hist_plot):
            # Axis labels are the costliest thing pyqtgraph draws: keep each axis (and
            # title) as a pixmap, redrawn only when its range or style changes.
            for side in ("left", "bottom"):
                plot.getAxis(side).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            plot.titleLabel.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.graphs.ci.layout.setColumnStretchFactor(0, 3)
        self.graphs.ci.layout.setColumnStretchFactor(1, 1)

        self.loop_curve = self.loop_plot.plot(pen=pg.mkPen((60, 130, 220), width=1))
        self.late_curve = self.late_plot.plot(pen=pg.mkPen((230, 140, 30), width=1))
        # The two throughput lines are told apart by a legend; the selected connection's
        # entry is there only while a connection is selected.
        self.rate_legend = self.rate_plot.addLegend(offset=(-4, 2), labelTextSize="8pt", verSpacing=-6)
        self.rate_curve = self.rate_plot.plot(pen=pg.mkPen((40, 170, 70), width=2), name="all connections")
        self.conn_rate_curve = self.rate_plot.plot(pen=pg.mkPen((200, 60, 200), width=1))
        self.open_curve = self.open_plot.plot(pen=pg.mkPen((120, 120, 220), width=2), stepMode=None)
        self.hist_bars = pg.BarGraphItem(x=[], height=[], width=0.2, brush=(60, 130, 220, 160))
        self.hist_plot.addItem(self.hist_bars)

        # One region per time plot (a graphics item lives in one plot), kept together.
        self.regions: dict[Any, pg.LinearRegionItem] = {}
        for plot in self.time_plots:
            region = pg.LinearRegionItem(brush=(60, 130, 220, 40))
            region.setZValue(10)
            region.sigRegionChanged.connect(self._region_dragged)
            region.sigRegionChangeFinished.connect(self._region_moved)
            self.regions[plot] = region
        self.region = self.regions[self.loop_plot]
        for plot in (*self.time_plots, self.hist_plot):
            plot.getViewBox().sigRangeChangedManually.connect(self._repaint)
        self.range_box = named(QCheckBox("Select range"), "timing.range")
        self.range_box.setAccessibleName("Select a time range")
        self.range_box.setToolTip("Drag the shaded region to filter connections, Deferreds and the log")
        self.range_box.toggled.connect(self._range_toggled)
        self.summary = named(QLabel(), "timing.summary")

        bar = QHBoxLayout()
        bar.addWidget(self.range_box)
        bar.addWidget(self.summary, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.graphs, 1)

    def _plot(self, title: str, unit: str, row: int, left: pg.AxisItem | None = None) -> pg.PlotItem:
        axes: dict[str, pg.AxisItem] = {"bottom": SafeAxis("bottom"), "left": left or SafeAxis("left")}
        plot = self.graphs.addPlot(row=row, col=0, axisItems=axes)
        # The name sits inside the plot's top-left corner rather than in a title row: four
        # stacked title rows left the plots too short for a readable value axis.
        name = pg.LabelItem(title, size="8pt", justify="left")
        name.setParentItem(plot.getViewBox())
        name.anchor(itemPos=(0, 0), parentPos=(0, 0), offset=(4, -4))
        name.setZValue(20)
        self.names[plot] = name
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
        for plot in (*self.time_plots, self.hist_plot):
            for side in ("left", "bottom"):
                axis = plot.getAxis(side)
                axis.setPen(text)
                axis.setTextPen(text)
        for name in self.names.values():
            name.setText(name.text, color=text.name())
        self.hist_plot.setTitle(self.hist_plot.titleLabel.text, size="9pt", color=text.name())
        self._title_color = text.name()
        for _sample, label in self.rate_legend.items:
            label.setText(label.text, color=text.name())
        self._repaint()

    def set_store(self, store: Store) -> None:
        """Plot another store's samples."""
        self.store = store
        self.range_box.setChecked(False)
        self.redraw()

    def show_connection(self, conn_id: int | None) -> None:
        """Overlay the selected connection's bytes/s on the throughput plot."""
        self.connection_id = conn_id
        self.rate_legend.removeItem(self.conn_rate_curve)
        if conn_id is not None:
            self.rate_legend.addItem(self.conn_rate_curve, f"connection #{conn_id}")
        self.redraw()

    def refresh(self) -> None:
        """Redraw now and then, and only while the panel is on screen (not behind another
        dock's tab); at once when it comes back on screen."""
        self._ticks += 1
        shown = on_screen(self)
        if shown and (not self._shown or self._ticks % REDRAW_EVERY == 0):
            self.redraw(force=False)
        self._shown = shown

    def redraw(self, force: bool = True) -> None:
        """Give the curves the store's samples (only those that changed, unless ``force``)."""
        store = self.store
        origin = store.origin
        rates = store.connection_rates.get(self.connection_id) if self.connection_id is not None else None
        start = self._follow_time()
        tops: dict[Any, float] = dict.fromkeys(self.time_plots, 0.0)
        for plot, curve, series, scale in (
            (self.loop_plot, self.loop_curve, store.loop_turns, 1.0),
            (self.late_plot, self.late_curve, store.timer_lateness, 1.0),
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
            # An empty time plot spans 1 ms (not 1 s), a count plot 1.
            top = top * 1.1 or (1e-3 if plot in (self.loop_plot, self.late_plot) else 1.0)
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
            # Bins of equal width in log10(µs), aligned on the decades the axis is ticked at.
            logs = np.log10(np.maximum(durations, 1e-7) * 1e6)
            low = math.floor(float(logs.min()))
            high = max(math.ceil(float(logs.max())), low + 1)
            edges = np.linspace(low, high, (high - low) * BINS_PER_DECADE + 1)
            heights, edges = np.histogram(logs, bins=edges)
            full = heights > 0  # an empty bin would still draw as a line along the axis
            centres = (edges[:-1] + edges[1:]) / 2
            self.hist_bars.setOpts(x=centres[full], height=heights[full], width=(edges[1] - edges[0]) * 0.9)
            # Room beyond the outer decades, so their tick labels are not cut off.
            margin = max(0.3, 0.12 * (high - low))
            self.hist_plot.setXRange(low - margin, high + margin, padding=0)
        else:
            self.hist_bars.setOpts(x=[], height=[])
        if store.time_range is not None:
            lo, hi = (t - store.origin for t in store.time_range)
            title = f"Callback durations ({lo:.1f}–{hi:.1f} s)"
        else:
            title = "Callback durations"
        if title != self.hist_plot.titleLabel.text:
            style = {"color": self._title_color} if self._title_color else {}
            self.hist_plot.setTitle(title, size="9pt", **style)

    def _range_toggled(self, on: bool) -> None:
        if on:
            low, high = self.loop_plot.viewRange()[0]
            span = high - low
            self._set_regions((low + span * 0.6, low + span * 0.9))
            for plot, region in self.regions.items():
                plot.addItem(region)
            self._region_moved()
        else:
            for plot, region in self.regions.items():
                plot.removeItem(region)
            self.range_selected.emit(None)

    def _set_regions(self, span: tuple[float, float], source: Any = None) -> None:
        """Put every plot's region at ``span`` (but ``source``, which is already there)."""
        for region in self.regions.values():
            if region is not source:
                blocked = region.blockSignals(True)
                region.setRegion(span)
                region.blockSignals(blocked)

    def _region_dragged(self, region: pg.LinearRegionItem) -> None:
        self._set_regions(region.getRegion(), source=region)
        self._repaint()

    def _region_moved(self, *_: Any) -> None:
        if not self.range_box.isChecked():
            return
        low, high = self.region.getRegion()
        self.range_selected.emit((self.store.origin + low, self.store.origin + high))

    def clear_range(self) -> None:
        """Drop the selected range, so every panel shows everything again."""
        self.range_box.setChecked(False)

    def select_range(self, start: float, end: float) -> None:
        """Select [start, end] seconds since the session began (as dragging would)."""
        if not self.range_box.isChecked():
            self.range_box.setChecked(True)
        self._set_regions((start, end))
        self._region_moved()
