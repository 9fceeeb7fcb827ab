"""The PySide6 window. The only package (with ``inspector.reactors.qt``) that imports Qt.

Three layers, each importing only the ones below it:

* ``viewmodel/`` — plain Python, no Qt: the store the trace is folded into, cell texts,
  filter rules, the status line, which connection belongs to which launched service.
* ``models/`` — Qt item models and filter proxies over the view-model.
* ``panels/`` — one QWidget per dock; ``panels/registry.py`` lists them (title, dock
  area, shortcut) and ``panels/contract.py`` says what the window asks of them.

``main_window.py`` docks the registered panels and wires them together; ``app.py``
starts the application; ``demo.py``, ``recordings.py``, ``palette.py`` and
``widgets.py`` serve the window.
"""
