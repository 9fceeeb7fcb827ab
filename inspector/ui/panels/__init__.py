"""The window's panels: one QWidget each, shown in a dock of the main window."""
