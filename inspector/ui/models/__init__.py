"""Qt item models over the Qt-free view-model (:mod:`inspector.ui.viewmodel`): table models
and filter proxies only; what a cell says and which rows pass is decided in the view-model."""

from PySide6.QtCore import QSortFilterProxyModel


def refilter(proxy: QSortFilterProxyModel) -> None:
    """Make ``proxy`` re-run its row filter (its filter settings changed)."""
    if hasattr(proxy, "beginFilterChange"):
        proxy.beginFilterChange()
        proxy.endFilterChange(QSortFilterProxyModel.Direction.Rows)
    else:  # Qt before 6.9
        proxy.invalidateRowsFilter()
