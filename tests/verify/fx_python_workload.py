# A Python workload for export + verify: json, sqlite3, ssl (with the CA
# store) and zoneinfo. Prints one line per feature.
import datetime
import json
import sqlite3
import ssl
import zoneinfo

print("json:", json.dumps({"a": [1, 2]}, sort_keys=True))
db = sqlite3.connect(":memory:")
db.execute("create table t (x)")
db.execute("insert into t values (42)")
print("sqlite3:", db.execute("select x from t").fetchone()[0])
ctx = ssl.create_default_context()
print("ssl:", ssl.OPENSSL_VERSION.split()[0], "ca certs:", ctx.cert_store_stats()["x509_ca"] > 0)
when = datetime.datetime(2023, 11, 14, 12, tzinfo=zoneinfo.ZoneInfo("Asia/Tokyo"))
print("zoneinfo:", when.tzname())
