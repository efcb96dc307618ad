"""qsys-restd: the REST API, web dashboard and Prometheus metrics of a qsys cell.

Its own process beside the master (like slurmrestd), an optional extra (``qsys[rest]``:
FastAPI on uvicorn, prometheus_client); the q-commands never import it. It reaches the master
only through ``qsys.client`` (all of it in ``adapter``), as the caller: the kernel names a
caller on the Unix socket, a token from ``qsys token user`` over TCP (``identity``).

Modules: ``settings`` (restd_* keys of the bootstrap file), ``identity``, ``adapter``,
``jobspecs`` (submissions through qsub's option engine), ``api`` (the routes), ``view`` and
``ledger`` (the shared snapshot and the accounting file followed), ``metrics``,
``dashboard`` and ``static/`` (the pages), ``app`` (errors as JSON), ``server`` (uvicorn
with the peer's uid), ``main``.
"""
