"""The proxy panel's fault form: every :class:`~inspector.proxy.Faults` setting as a field
that takes effect as soon as it is changed (Enter, an arrow, or leaving the field).

Zero (or the field's lowest value, shown as "off" / "unlimited") turns an optional fault
off. A value the proxy refuses is shown in red under the form and logged; the field
goes back to what the proxy has, so nothing half-applied is ever shown.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QDoubleSpinBox,
    QGridLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from inspector.ui.widgets import named

log = logging.getLogger("inspector.ui.proxy")

__all__ = ["FaultsForm"]

#: (setting, label, kind, suffix, lowest, highest, text at the lowest, tooltip)
_NUMBERS: tuple[tuple[str, str, str, str, float, float, str, str], ...] = (
    ("latency_up", "Latency client → server", "float", " s", 0.0, 3600.0, "",
     "Seconds added to each chunk the client sends"),
    ("latency_down", "Latency server → client", "float", " s", 0.0, 3600.0, "",
     "Seconds added to each chunk the server sends"),
    ("jitter", "Jitter", "float", " s", 0.0, 3600.0, "",
     "Each chunk's latency varies by up to this much either way (order is kept)"),
    ("bandwidth_up", "Bandwidth client → server", "int", " B/s", 0, 1 << 30, "unlimited",
     "Bytes per second client → server (0: unlimited)"),
    ("bandwidth_down", "Bandwidth server → client", "int", " B/s", 0, 1 << 30, "unlimited",
     "Bytes per second server → client (0: unlimited)"),
    ("slice_size", "Slice writes at", "int", " B", 0, 1 << 20, "off",
     "Write at most this many bytes at a time, to test framing code (0: off)"),
    ("slice_interval", "Between slices", "float", " s", 0.0, 60.0, "",
     "Seconds between the pieces of a sliced write"),
    ("cut_after_bytes", "Cut after bytes", "int", " B", -1, 1 << 40, "off",
     "End each session once this many bytes were relayed, both directions together (off: never)"),
    ("cut_after_seconds", "Cut after seconds", "float", " s", 0.0, 86400.0, "off",
     "End each session this many seconds after its client connected (0: off)"),
)

#: Where each of :data:`_NUMBERS` sits: (row, pair); a row reads as one kind of fault.
_PLACES = ((0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1))

#: (setting, check box text, tooltip)
_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("reset", "Reset (RST) instead of FIN",
     "Cuts, and a FIN from either peer, end the session with a TCP reset"),
    ("hold_up", "Hold client → server",
     "Queue what the client sends until you release it (listed below); unticking releases all"),
    ("hold_down", "Hold server → client",
     "Queue what the server sends until you release it (listed below); unticking releases all"),
)


def _spin(name: str, kind: str, suffix: str, low: float, high: float, off: str, tip: str) -> QAbstractSpinBox:
    box: QSpinBox | QDoubleSpinBox
    if kind == "int":
        box = QSpinBox()
        box.setRange(int(low), min(int(high), (1 << 31) - 1))
    else:
        box = QDoubleSpinBox()
        box.setDecimals(3)
        box.setRange(low, high)
        box.setSingleStep(0.05)
    box.setSuffix(suffix)
    if off:
        box.setSpecialValueText(off)
    box.setKeyboardTracking(False)  # apply the value typed, not each digit on the way
    box.setToolTip(tip)
    box.setAccessibleName(name.replace("_", " "))
    box.setAlignment(Qt.AlignmentFlag.AlignRight)
    return named(box, f"proxy.fault.{name}")


class FaultsForm(QWidget):
    """Fields for one proxy's faults; ``faults`` is the live object they change."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.faults: Any = None
        self.numbers: dict[str, QSpinBox | QDoubleSpinBox] = {}
        self.flags: dict[str, QCheckBox] = {}
        self._showing = False
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        for (name, label, kind, suffix, low, high, off, tip), (row, column) in zip(_NUMBERS, _PLACES):
            box = _spin(name, kind, suffix, low, high, off, tip)
            self.numbers[name] = box  # type: ignore[assignment]
            box.valueChanged.connect(lambda _value, n=name: self._number_changed(n))  # type: ignore[attr-defined]
            caption = QLabel(label)
            caption.setBuddy(box)
            caption.setToolTip(tip)
            grid.addWidget(caption, row, column * 2)
            grid.addWidget(box, row, column * 2 + 1)
        flags_row = max(row for row, _column in _PLACES) + 1
        for column, (name, text, tip) in enumerate(_FLAGS):
            check = named(QCheckBox(text), f"proxy.fault.{name}")
            check.setToolTip(tip)
            check.toggled.connect(lambda _on, n=name: self._flag_changed(n))
            self.flags[name] = check
            grid.addWidget(check, flags_row, column * 2, 1, 2)
        for column in (1, 3, 5):
            grid.setColumnStretch(column, 1)
        self.error = named(QLabel(), "proxy.fault_error")
        self.error.setStyleSheet("color: #d03030; font-weight: bold")
        self.error.setWordWrap(True)
        self.error.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(grid)
        layout.addWidget(self.error)
        self.setEnabled(False)
        #: Called after the user changed a setting (the panel refreshes what depends on it).
        self.on_applied: Callable[[str], None] = lambda name: None

    def show_faults(self, faults: Any) -> None:
        """Show (and from now on change) ``faults``; None empties and disables the form."""
        self.faults = faults
        self.setEnabled(faults is not None)
        self.error.hide()
        self.reload()

    def reload(self) -> None:
        """Make every field say what the proxy has now (changed elsewhere, or refused)."""
        faults = self.faults
        if faults is None:
            return
        self._showing = True
        try:
            for name, box in self.numbers.items():
                value = getattr(faults, name)
                if value is None:
                    value = box.minimum()
                if box.value() != value:
                    box.setValue(value)
            for name, check in self.flags.items():
                if check.isChecked() != bool(getattr(faults, name)):
                    check.setChecked(bool(getattr(faults, name)))
        finally:
            self._showing = False

    def _number_changed(self, name: str) -> None:
        if self._showing or self.faults is None:
            return
        box = self.numbers[name]
        value: Any = box.value()
        if box.specialValueText() and value == box.minimum():
            value = None  # "off" / "unlimited"
        self._apply(name, value)

    def _flag_changed(self, name: str) -> None:
        if self._showing or self.faults is None:
            return
        self._apply(name, self.flags[name].isChecked())

    def _apply(self, name: str, value: Any) -> None:
        try:
            setattr(self.faults, name, value)
        except (ValueError, AttributeError) as exc:
            self.error.setText(f"{name.replace('_', ' ')}: {exc}")
            self.error.show()
            log.error("proxy fault %s not changed: %s", name, exc)
            self.reload()
            return
        self.error.hide()
        log.info("proxy faults now: %s", self.faults.describe())
        self.on_applied(name)
