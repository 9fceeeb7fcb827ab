"""The Timing panel draws only while a person can see it: behind another dock's tab (the
Session tab is in front by default) it does not redraw its plots, which costs more than
anything else in a frame; brought to the front, it draws at once."""

from __future__ import annotations

from typing import Any

import pytest

from inspector.ui.panels import timing


def test_the_timing_plots_redraw_only_while_their_tab_is_in_front(
        qtbot: Any, window: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    panel = window.timing
    redraws: list[bool] = []
    original = timing.TimingPanel.redraw
    monkeypatch.setattr(timing.TimingPanel, "redraw",
                        lambda self, force=True: (redraws.append(force), original(self, force)))
    window.show_dock("Session")
    qtbot.wait(50)
    for _ in range(3 * timing.REDRAW_EVERY):
        window.refresh()
    assert redraws == []  # behind the Session tab: nothing drawn

    window.show_dock("Timing")
    qtbot.wait(50)
    window.refresh()
    assert redraws, "brought to the front, the plots are drawn at once"
    count = len(redraws)
    for _ in range(2 * timing.REDRAW_EVERY):
        window.refresh()
    assert len(redraws) >= count + 2  # and now and then after that
    assert panel.isVisible()
