"""Seeds `ravis serve` for scripts/load-bench.sh: N children registered through the API by a
health specialist of one organisation (so every one is in its care), ids printed one per
line. Standard library only; one keep-alive connection."""
import datetime
import http.client
import json
import sys

port, token, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
birth = (datetime.date.today() - datetime.timedelta(days=20 * 30)).isoformat()
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
for n in range(count):
    body = json.dumps({"given_name": "Load", "family_name": f"Child{n}", "birth_date": birth,
                       "sex": "female" if n % 2 else "male", "atvk": "0001000"})
    conn.request("POST", "/children", body, {"Authorization": f"Bearer {token}",
                                             "Content-Type": "application/json"})
    answer = conn.getresponse()
    data = answer.read()
    if answer.status != 201:
        sys.exit(f"load-seed: registering child {n}: {answer.status} {data[:300]!r}")
    print(json.loads(data)["id"])
