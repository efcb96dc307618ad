"""The Python side of qsys's DRMAA 1.0 library (``libdrmaa.so``, built from ``drmaa/``).

The C library a program loads is a thin shim: at ``drmaa_init`` it starts
``python -m qsys.drmaa.helper`` and forwards every call over a socket pair (``wire``). The
helper keeps the session (``session``): job templates (``template``), the jobs submitted in
this session and the end reports of those not reaped yet, as Grid Engine's libdrmaa does.
Only ``backend`` talks to the master, through ``qsys.client``.
"""
