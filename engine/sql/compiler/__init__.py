"""Compilation of parsed SQL into executable plans of Python closures.

``scope`` resolves names, ``expr`` compiles expressions (the one evaluator of
SQLite semantics, shared by queries, DML, constraints and view maintenance),
``select`` plans queries, ``dml`` plans INSERT/UPDATE/DELETE.
"""
