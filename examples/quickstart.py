"""turso_stream as a drop-in for sqlite3: a file database, transactions, concurrency.

Run: python examples/quickstart.py [DIR]
"""

import os
import sys
import tempfile

import turso_stream as sqlite3


def main(directory: str) -> None:
    path = os.path.join(directory, "shop.db")
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    conn.executescript("""
        CREATE TABLE IF NOT EXISTS products(id INTEGER PRIMARY KEY, name TEXT UNIQUE, price REAL);
        CREATE INDEX IF NOT EXISTS products_price ON products(price);
    """)
    with conn:  # commits on success, rolls back on an exception
        conn.executemany("INSERT OR IGNORE INTO products(name, price) VALUES (?, ?)",
                         [("apple", 0.5), ("pear", 0.75), ("melon", 2.5)])
    for row in conn.execute("SELECT name, price FROM products WHERE price < ? ORDER BY price",
                            (1.0,)):
        print(dict(row))
    try:
        conn.execute("INSERT INTO products(name, price) VALUES ('apple', 1)")
    except sqlite3.IntegrityError as exc:
        print("IntegrityError:", exc)
    conn.rollback()

    # Two writers at once: BEGIN CONCURRENT commits both when they touch different rows.
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.isolation_level = None
    conn.execute("BEGIN CONCURRENT")
    other.execute("BEGIN CONCURRENT")
    conn.execute("UPDATE products SET price = price * 2 WHERE name = 'apple'")
    other.execute("UPDATE products SET price = price * 2 WHERE name = 'pear'")
    conn.execute("COMMIT")
    other.execute("COMMIT")
    print([tuple(r) for r in conn.execute("SELECT name, price FROM products ORDER BY id")])
    other.close()
    conn.close()
    # The file is an ordinary SQLite database: the stdlib module reads it.
    import sqlite3 as stdlib_sqlite3
    with stdlib_sqlite3.connect(path) as plain:
        print("stdlib sqlite3 sees", plain.execute("SELECT count(*) FROM products").fetchone()[0],
              "products")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="turso_stream_"))
