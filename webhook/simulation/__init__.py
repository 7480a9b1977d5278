"""Where Pods would land: the scheduler's filters, the API server's own admission plugins, Server to Pod."""
