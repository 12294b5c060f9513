"""The monitoring store: values a service records (``service.store``, ``monitor=True``) kept in
an SQLite file of its own, written in batches by one thread, read back at ``/~monitor``."""
