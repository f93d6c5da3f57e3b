#!/bin/sh
# The bundled example workload: a few smoke tests of the kind a service's
# image must pass. It uses a shell, coreutils, tzdata, a locale and Python.
set -e
TZ=Europe/Paris date +%Z > /dev/null
LANG=C.UTF-8 ls / > /dev/null
getent passwd root > /dev/null
python3 -c 'import json, zoneinfo; print(json.dumps({"tz": str(zoneinfo.ZoneInfo("Asia/Tokyo"))}))'
