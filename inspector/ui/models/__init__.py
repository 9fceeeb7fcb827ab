"""Qt item models over the window's :mod:`inspector.ui.viewmodel.store`."""

from PySide6.QtCore import QSortFilterProxyModel


def refilter(proxy: QSortFilterProxyModel) -> None:
    """Make ``proxy`` re-run its row filter (its filter settings changed)."""
    if hasattr(proxy, "beginFilterChange"):
        proxy.beginFilterChange()
        proxy.endFilterChange(QSortFilterProxyModel.Direction.Rows)
    else:  # Qt before 6.9
        proxy.invalidateRowsFilter()
