"""HTTP API, job store and web page."""
