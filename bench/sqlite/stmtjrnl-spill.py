#!/usr/bin/env python3
"""SQLite's statement journal past a spill threshold above 128 KiB (docs/benchmarks.md, run 23).

Runs 200 transactions of savepoints with random multi-row updates against a throwaway database, through the given
libe_sqlite3 (or any libsqlite3), with SQLITE_CONFIG_STMTJRNL_SPILL set to the given threshold, and counts the
statements that fail. With a threshold of 128 KiB or more the journal's spill can write more than the unix VFS passes on, and
statements fail with SQLITE_FULL ("database or disk is full"). This runs the library alone; Clarity registers a VFS that
splits those writes (src/Clarity/Storage/SqliteSplitWritesVfs.cs, run 24).

    bench/sqlite/stmtjrnl-spill.py src/Clarity/bin/Release/net10.0/runtimes/linux-x64/native/libe_sqlite3.so 1048576
    bench/sqlite/stmtjrnl-spill.py <library> 65536
    bench/sqlite/stmtjrnl-spill.py <library> -1     # temp_store=MEMORY: the journal never spills
"""
import ctypes
import os
import random
import shutil
import sys
import tempfile

if len(sys.argv) != 3:
    sys.exit("usage: stmtjrnl-spill.py LIBRARY THRESHOLD_BYTES (or -1 for temp_store=MEMORY)")
library, threshold = sys.argv[1], int(sys.argv[2])
lib = ctypes.CDLL(library)
SQLITE_CONFIG_STMTJRNL_SPILL = 26
if threshold > 0 and lib.sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, ctypes.c_int(threshold)) != 0:
    sys.exit("sqlite3_config refused the threshold")

folder = tempfile.mkdtemp()
db = ctypes.c_void_p()
if lib.sqlite3_open(os.path.join(folder, "spill.db").encode(), ctypes.byref(db)) != 0:
    sys.exit("could not open a database in " + folder)


def run(sql):
    return lib.sqlite3_exec(db, sql.encode(), None, None, None)


run("PRAGMA page_size=8192; PRAGMA journal_mode=WAL; PRAGMA cache_size=-65536;"
    + (" PRAGMA temp_store=MEMORY;" if threshold < 0 else ""))
run("CREATE TABLE p (id INTEGER PRIMARY KEY, v TEXT NOT NULL, k INT NOT NULL); CREATE INDEX pk ON p (k, v)")
run("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
    "INSERT INTO p SELECT i, hex(randomblob(abs(random() % 3000))), i FROM n")
rng = random.Random(1)
statements = failed = 0
for _ in range(200):
    run("BEGIN")
    for _ in range(rng.randint(1, 6)):
        run("SAVEPOINT w")
        for _ in range(rng.randint(1, 8)):
            first = rng.randint(1, 3000)
            last = first + rng.choice([0, 1, 5, 20, 100, 400])
            statements += 1
            size = rng.randint(1, 3000)
            if run(f"UPDATE p SET v = hex(randomblob({size})), k = k + 1 WHERE id BETWEEN {first} AND {last}") != 0:
                failed += 1
        run("ROLLBACK TO w" if rng.random() < 0.3 else "RELEASE w")
    run("COMMIT")
lib.sqlite3_close(db)
shutil.rmtree(folder, ignore_errors=True)
print(f"threshold {threshold}: {failed} of {statements} statements failed")
sys.exit(1 if failed else 0)
