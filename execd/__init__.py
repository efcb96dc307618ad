"""The exec daemon (``qsys-execd``) and the per-task shepherd.

The daemon links to the master (``daemon``), keeps one spool directory per task (``spool``)
and starts shepherds through a forkserver (``forkserver``) so no interpreter is spawned per
job. The shepherd (``shepherd``) switches identity (``identity``), builds the job's
environment (``environment``) and output files (``qsys.output_paths``, shared with
qsys-restd), enforces limits and writes the exit report (``usage``). ``load`` samples the host's load values.
"""
