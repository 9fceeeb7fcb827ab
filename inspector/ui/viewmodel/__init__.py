"""The window's view-model: plain Python, no Qt.

It turns the trace (live or a recording) into what the panels show: the store of
connection, Deferred and log rows (:mod:`.store`, fed by :mod:`.feed`), the text of
their cells, the filters, and the status line. Everything here imports and runs
without Qt, so it is tested without a display.
"""
