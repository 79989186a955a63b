"""Alembic's migration scripts for the fleet's database (run by :mod:`fleet.database`)."""
