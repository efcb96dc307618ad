"""Remote startup, client side: what ``qrsh``/``qlogin`` do once the master granted a session.

* :mod:`qsys.startup.wire` -- the builtin protocol's frames (shared with ``execd.startup``).
* :mod:`qsys.startup.builtin` -- the builtin client: token, pty, window size, signals, exit.
* :mod:`qsys.startup.methods` -- the command methods (ssh, telnet, rlogin, rsh) and their
  argument conventions.
* :mod:`qsys.startup.sshkeys` -- the qsys-sshd method: its daemon value, the session's keys.
* :mod:`qsys.startup.sshclient` -- the qsys-sshd client: the stock ssh with the session's keys.
* :mod:`qsys.startup.session` -- the session API: submit, wait for the grant, connect.
* :mod:`qsys.startup.addresses` -- the addresses of this host (grants, reports).
"""
