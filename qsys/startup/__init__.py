"""Remote startup, client side: what ``qrsh``/``qlogin`` do once the master granted a session.

* :mod:`qsys.startup.builtin` -- the builtin client: token, pty, window size, signals, exit.
* :mod:`qsys.startup.methods` -- the command methods (ssh, telnet, rlogin, rsh) and their
  argument conventions.
* :mod:`qsys.startup.session` -- the session API: submit, wait for the grant, connect.

The frames, X11 parts and host addresses both ends share are in :mod:`qsys.remote`.
"""
