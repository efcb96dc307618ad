"""Remote startup, what both ends share: the client (``qsys.startup``, qrsh and
qlogin) and the exec daemon (``execd.startup``, ``execd.builtin_server``, ``execd.inherit``).

* :mod:`qsys.remote.wire` -- the builtin protocol's frames.
* :mod:`qsys.remote.x11` -- X11 forwarding: channels, cookies, the session's display.
* :mod:`qsys.remote.addresses` -- the addresses of this host (grants, reports, ports).

A leaf package: it imports the standard library and msgpack only, never ``qsys.startup``
or ``execd``.
"""
