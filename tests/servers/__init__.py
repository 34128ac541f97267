"""Helpers that fetch (once, cached) and run real servers for the harness's own tests, on
127.0.0.1, always stopped by their fixtures. One module per server."""
