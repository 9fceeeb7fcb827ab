"""A greeting protocol written as an Inspector user would, shipped as a plug-in.

The wire format (:mod:`greeting.wire`) is netstrings holding ``VERB text``: the client
says ``HELLO alice``, the server answers ``GREETING Hello, alice!``; ``BYE`` from the client
is answered with ``BYE`` and the server hangs up. :mod:`greeting.protocol` holds the
protocols and factories, :mod:`greeting.service` a ``makeService`` for ``inspector run``,
:mod:`greeting.catalog` the launcher's entries and :mod:`greeting.dissector` the decoder.
"""
