"""The master daemon: server, job life cycle, host registry, accounting."""
