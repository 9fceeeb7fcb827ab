"""The chain diagram: one Deferred's callbacks as boxes, the branch taken highlighted.

Each step of the chain is a row of two boxes, callback on the left and errback on the
right (a ``both`` step spans the row). The side that ran is filled and joined to the
previous step by an arrow; a step that returned another Deferred shows a link that
opens that Deferred's own chain.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from inspector.ui.viewmodel import format as fmt
from inspector.ui.viewmodel.store import CallbackNode, DeferredInfo

BOX_W = 260
BOX_H = 54
GAP_X = 40
GAP_Y = 26
MARGIN = 14
HEADER_H = 46

OK = QColor(40, 160, 70)
BAD = QColor(210, 50, 50)
RECOVERED = QColor(150, 90, 210)
IDLE = QColor(128, 128, 128)
LINK = QColor(60, 120, 220)
#: Marks drawn in the diagram; every one is in DejaVu Sans (⏳ and ⌛ are not).
WAITING_MARK = "◷"


def footer_text(info: DeferredInfo) -> str:
    """The line under the chain: what a waiting Deferred waits on, or its result."""
    if info.state in ("pending", "paused"):
        waiting = info.waits_on_text or (f"Deferred #{info.waits_on}" if info.waits_on is not None else "a result")
        return f"{WAITING_MARK} waiting on {waiting}"
    return f"result: {info.result_repr}" if info.result_repr else ""


def _passed_over(info: DeferredInfo, index: int) -> bool:
    """True when step ``index`` did not run and never will: the result went the other way."""
    if info.callbacks[index].ran:
        return False
    settled = info.fired_at is not None and info.state not in ("pending", "paused")
    return index < info.next_step or settled


def describe(info: DeferredInfo) -> str:
    """Return the diagram as text, one line per step (also the accessible description)."""
    lines = [f"Deferred #{info.id} {info.state} created at {info.site}"]
    for number, node in enumerate(info.callbacks, 1):
        if node.ran:
            outcome = "failed" if node.failed else "returned"
            line = (
                f"{number}. {node.branch} {node.name} ran {fmt.duration(node.duration)}, {outcome} {node.result_repr}"
            )
        elif _passed_over(info, number - 1):
            line = f"{number}. {node.kind} {node.name} passed over"
        else:
            line = f"{number}. {node.kind} {node.name} not run"
        if node.chained_to is not None:
            if node.resumed:
                line += f" -> waited on Deferred #{node.chained_to}, which fired; the chain resumed"
            else:
                line += f" -> waits on Deferred #{node.chained_to}"
        lines.append(line)
    if info.state in ("pending", "paused") and info.waits_on_text:
        lines.append(f"waiting on {info.waits_on_text}")
    return "\n".join(lines)


class ChainDiagram(QWidget):
    """Paints a :class:`DeferredInfo`'s chain; clicking a chain link emits its id."""

    deferred_activated = Signal(int)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("deferreds.diagram")
        self.setAccessibleName("Callback chain")
        self.info: DeferredInfo | None = None
        self._links: list[tuple[QRectF, int]] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)

    def show_deferred(self, info: DeferredInfo | None) -> None:
        """Draw ``info``'s chain (None: an empty diagram)."""
        self.info = info
        self.setAccessibleDescription(describe(info) if info is not None else "")
        self.setToolTip(self.accessibleDescription())
        self.updateGeometry()
        self.adjustSize()
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802
        steps = len(self.info.callbacks) if self.info is not None else 0
        height = MARGIN * 2 + HEADER_H + steps * (BOX_H + GAP_Y) + GAP_Y + 30
        return QSize(MARGIN * 2 + BOX_W * 2 + GAP_X, height)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return self.sizeHint()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        for rect, target in self._links:
            if rect.contains(event.position()):
                self.deferred_activated.emit(target)
                return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        over = any(rect.contains(event.position()) for rect, _ in self._links)
        self.setCursor(Qt.CursorShape.PointingHandCursor if over else Qt.CursorShape.ArrowCursor)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        text_colour = palette.color(QPalette.ColorRole.Text)
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        self._links = []
        info = self.info
        if info is None:
            painter.setPen(IDLE)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Select a Deferred to see its chain")
            return
        metrics = QFontMetrics(self.font())
        header = QRectF(MARGIN, MARGIN, BOX_W * 2 + GAP_X, HEADER_H)
        state_colour = (
            BAD if info.state == "failed" or info.unhandled
            else OK if info.state == "succeeded"
            else RECOVERED if info.state == "recovered"
            else IDLE
        )
        self._box(painter, header, state_colour, filled=True)
        painter.setPen(text_colour)
        state = "recovered (failed, then an errback handled it)" if info.state == "recovered" else info.state
        title = f"Deferred #{info.id} — {state}" + ("  ⚠ UNHANDLED" if info.unhandled else "")
        painter.drawText(header.adjusted(8, 4, -8, -24), Qt.AlignmentFlag.AlignLeft, title)
        where = metrics.elidedText(
            f"{info.function} at {info.site}", Qt.TextElideMode.ElideLeft, int(header.width()) - 16
        )
        painter.drawText(header.adjusted(8, 24, -8, -4), Qt.AlignmentFlag.AlignLeft, where)

        previous = QPointF(header.center().x(), header.bottom())
        y = header.bottom() + GAP_Y
        for number, node in enumerate(info.callbacks):
            skipped = not node.ran and _passed_over(info, number)
            previous = self._step(painter, node, skipped, y, previous, text_colour, metrics)
            y += BOX_H + GAP_Y
        footer = QRectF(MARGIN, y - GAP_Y + 6, BOX_W * 2 + GAP_X, 24)
        painter.setPen(text_colour)
        painter.drawText(
            footer,
            Qt.AlignmentFlag.AlignLeft,
            metrics.elidedText(footer_text(info), Qt.TextElideMode.ElideRight, int(footer.width())),
        )

    def _step(
        self,
        painter: QPainter,
        node: CallbackNode,
        skipped: bool,
        y: float,
        previous: QPointF,
        text_colour: QColor,
        metrics: QFontMetrics,
    ) -> QPointF:
        left = QRectF(MARGIN, y, BOX_W, BOX_H)
        right = QRectF(MARGIN + BOX_W + GAP_X, y, BOX_W, BOX_H)
        both = QRectF(MARGIN, y, BOX_W * 2 + GAP_X, BOX_H)
        # Each branch's box; None where this step has no callable on that branch.
        rects: dict[str, QRectF | None]
        if node.kind == "both":
            rects = {"callback": both, "errback": both}
        elif node.kind == "errback":
            rects = {"callback": None, "errback": right}
        else:
            rects = {"callback": left, "errback": None}
        taken = rects.get(node.branch) if node.ran else None
        for side, rect in rects.items():
            if rect is None or (node.kind == "both" and side == "errback"):
                continue
            self._box(painter, rect, (BAD if node.failed else OK) if rect is taken else IDLE, filled=rect is taken)
        if node.kind != "both":
            for side, rect in (("callback", left), ("errback", right)):
                if rects[side] is None:
                    painter.setPen(QPen(IDLE, 1, Qt.PenStyle.DotLine))
                    painter.drawRoundedRect(rect.adjusted(20, 16, -20, -16), 4, 4)
                    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "(pass through)")
        box = taken or next(r for r in rects.values() if r is not None)
        painter.setPen(text_colour)
        label = f"{node.branch if node.ran else node.kind}: {node.name}"
        painter.drawText(
            box.adjusted(8, 4, -8, -30),
            Qt.AlignmentFlag.AlignLeft,
            metrics.elidedText(label, Qt.TextElideMode.ElideMiddle, int(box.width()) - 16),
        )
        if node.ran:
            detail = f"{fmt.duration(node.duration)} → {node.result_repr or node.result_type}"
        elif skipped:
            detail = "passed over (the result went the other way)"
        else:
            detail = "not run yet"
        painter.drawText(
            box.adjusted(8, 28, -8, -4),
            Qt.AlignmentFlag.AlignLeft,
            metrics.elidedText(detail, Qt.TextElideMode.ElideRight, int(box.width()) - 16),
        )
        if node.chained_to is not None:
            link = QRectF(box.right() - 120, box.top() + 2, 116, 20)
            painter.setPen(LINK)
            painter.drawText(
                link, Qt.AlignmentFlag.AlignRight, f"→ #{node.chained_to}" + (" ✓ resumed" if node.resumed else " …")
            )
            self._links.append((link, node.chained_to))
        if taken is not None:
            target = QPointF(taken.center().x(), taken.top())
            self._arrow(painter, previous, target, BAD if node.failed else OK)
            return QPointF(taken.center().x(), taken.bottom())
        return previous

    @staticmethod
    def _box(painter: QPainter, rect: QRectF, colour: QColor, filled: bool) -> None:
        painter.setPen(QPen(colour, 2 if filled else 1))
        fill = QColor(colour)
        fill.setAlpha(60 if filled else 0)
        painter.setBrush(fill)
        painter.drawRoundedRect(rect, 6, 6)
        painter.setBrush(Qt.BrushStyle.NoBrush)

    @staticmethod
    def _arrow(painter: QPainter, start: QPointF, end: QPointF, colour: QColor) -> None:
        painter.setPen(QPen(colour, 2))
        path = QPainterPath(start)
        middle = (start.y() + end.y()) / 2
        path.cubicTo(QPointF(start.x(), middle), QPointF(end.x(), middle), end)
        painter.drawPath(path)
        painter.setBrush(colour)
        head = QPainterPath(end)
        head.lineTo(end + QPointF(-5, -8))
        head.lineTo(end + QPointF(5, -8))
        head.closeSubpath()
        painter.drawPath(head)
        painter.setBrush(Qt.BrushStyle.NoBrush)
