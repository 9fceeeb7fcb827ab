"""Inspector: a desktop network inspector on its own Twisted-style networking framework.

The framework (everything outside ``inspector.ui`` and ``inspector.reactors.qt``) runs
headless and never imports Qt.
"""

__version__ = "0.1.0"
