"""The PySide6 window. The only package (with ``inspector.reactors.qt``) that imports Qt."""
