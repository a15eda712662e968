"""SQL front end: sqlglot dialect, statement splitting, parsing, functions, evaluation."""
