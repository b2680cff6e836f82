"""Persistence: the schema, the database engine, and the unit of work."""
