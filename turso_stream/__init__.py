"""turso_stream: an embedded reactive SQL database speaking SQLite's dialect."""

__version__ = "0.1.0"
