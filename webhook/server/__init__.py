"""The HTTPS admission server: the ASGI app, protocol guard, settings, reloading, logs and metrics."""
