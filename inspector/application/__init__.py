"""Twisted's ``twisted.application`` names, so a ``.tac`` file ports by changing imports.

``from twisted.application import internet, service, strports`` becomes
``from inspector.application import internet, service, strports``; each module here
re-exports what the framework already has under Twisted's module layout.
"""
