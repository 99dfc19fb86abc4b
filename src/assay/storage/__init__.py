"""Storage: the only package that imports database drivers or object-store clients.

``database`` opens SQLite or PostgreSQL through SQLAlchemy Core and migrates it with Alembic;
``schema`` holds every table; each service's store module (``tlog_store``, …) is a narrow
class over those tables whose docstring states what is durable when a call returns.
"""
