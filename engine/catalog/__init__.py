"""The catalog: schema objects and their CREATE-text parser."""

from engine.catalog.ddl import auto_indexes, parse_create_index, parse_create_table
from engine.catalog.schema import (
    Catalog, CheckConstraint, Column, ExpressionCompiler, ForeignKey, IndexColumn,
    IndexSchema, SchemaObject, TableSchema)

__all__ = [
    "Catalog", "CheckConstraint", "Column", "ExpressionCompiler", "ForeignKey",
    "IndexColumn", "IndexSchema", "SchemaObject", "TableSchema", "auto_indexes",
    "parse_create_index", "parse_create_table",
]
