"""engine: catalog, MVCC row store, transactions, commit log, checkpoint and recovery."""
