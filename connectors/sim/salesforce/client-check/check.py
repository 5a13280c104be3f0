#!/usr/bin/env python3
"""Official-client acceptance check of the Salesforce simulator.

Drives the simulator over HTTPS with simple-salesforce (pinned in requirements.txt): an
sObject Collections create, a SOQL query paged through nextRecordsUrl (query / query_more /
query_all), an upsert by external id (create, then update), an sObject Collections upsert, the
SObject methods create / get / get_by_custom_id / metadata / describe / updated / delete /
deleted, the global describe, limits() and the identity URL of the token response.
The access token comes from the simulator's client-credentials token endpoint.

Exit status: 0 all checks passed; 1 a check failed; 77 simple-salesforce is not installed.
Prints only ids, counts and status codes (no field values, no tokens).
"""

import argparse
import sys
from datetime import datetime, timedelta, timezone

import ssl

try:
    import requests
    from requests.adapters import HTTPAdapter
    from simple_salesforce import Salesforce
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"SKIP: {e}; install with: pip install -r requirements.txt", file=sys.stderr)
    sys.exit(77)


class PinnedCert(HTTPAdapter):
    """Trusts exactly the simulator's certificate. It is a self-signed leaf (not a CA), which
    OpenSSL accepts as a trust anchor only with X509_V_FLAG_PARTIAL_CHAIN (Python >= 3.13 sets
    it by default; older ones need it here)."""

    def __init__(self, cafile):
        self.ctx = ssl.create_default_context(cafile=cafile)
        self.ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["ssl_context"] = self.ctx
        return super().init_poolmanager(*args, **kwargs)


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--base-url", required=True, help="login URL of the simulator (https://localhost:PORT)")
    p.add_argument("--cert", required=True, help="PEM file of the simulator's certificate")
    p.add_argument("--client-id", default="sim-consumer-key")
    p.add_argument("--client-secret", default="sim-consumer-secret")
    p.add_argument("--version", default="62.0")
    p.add_argument("--ext-field", default="WLCRO_Id__c")
    p.add_argument("--records", type=int, default=12, help="rows to create (more than one query batch)")
    args = p.parse_args()

    session = requests.Session()
    session.verify = args.cert
    session.mount("https://", PinnedCert(args.cert))

    # 1. Client-credentials token (simple-salesforce's own flows target *.salesforce.com hosts).
    resp = session.post(
        f"{args.base_url.rstrip('/')}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": args.client_id,
              "client_secret": args.client_secret},
        timeout=30,
    )
    check(resp.status_code == 200, f"token endpoint answered {resp.status_code}")
    tok = resp.json()
    check("access_token" in tok and "instance_url" in tok, "token response has access_token and instance_url")
    sf = Salesforce(instance_url=tok["instance_url"], session_id=tok["access_token"],
                    session=session, version=args.version)

    # 2. sObject Collections create.
    records = [{"attributes": {"type": "Contact"}, "LastName": f"Check{i:03d}"} for i in range(args.records)]
    created = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": records})
    check(isinstance(created, list) and len(created) == args.records, "collections create answers one item per row")
    check(all(r["success"] and len(r["id"]) == 18 for r in created), "every row created with an 18-char id")
    ids = {r["id"] for r in created}

    # 3. Query with paging through nextRecordsUrl.
    soql = "SELECT Id, LastName FROM Contact ORDER BY Id"
    first = sf.query(soql)
    check(first["done"] is False and "nextRecordsUrl" in first, "first batch is partial and names nextRecordsUrl")
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    check(len(second["records"]) > 0, "query_more returned the next batch")
    everything = sf.query_all(soql)
    got = [r["Id"] for r in everything["records"]]
    check(everything["totalSize"] == len(got) >= args.records, f"query_all collected {len(got)} rows")
    check(ids <= set(got) and len(got) == len(set(got)), "query_all saw every created row exactly once")

    # 4. Upsert by external id: create, then update the same record.
    key = f"{args.ext_field}/check-upsert-1"
    status = sf.Contact.upsert(key, {"LastName": "Upserted"})
    check(status == 201, f"upsert of a new external id created it (HTTP {status})")
    status = sf.Contact.upsert(key, {"LastName": "Upserted Again"})
    check(status in (200, 204), f"upsert of a known external id updated it (HTTP {status})")
    found = sf.query(f"SELECT Id FROM Contact WHERE {args.ext_field} = 'check-upsert-1'")
    check(found["totalSize"] == 1, "the external id names exactly one record")

    # 5. sObject Collections upsert on the external-id field.
    rows = [{"attributes": {"type": "Contact"}, args.ext_field: v, "LastName": "Coll"}
            for v in ("check-upsert-1", "check-upsert-2")]
    res = sf.restful(f"composite/sobjects/Contact/{args.ext_field}", method="PATCH",
                     json={"allOrNone": False, "records": rows})
    check([r["created"] for r in res] == [False, True] and all(r["success"] for r in res),
          "collections upsert updated the known id and created the new one")

    made = sobject_methods(sf, args.ext_field)
    replication(sf, tok, made)
    lim = sf.limits()
    check(lim["DailyApiRequests"]["Max"] > 0, "limits() answered DailyApiRequests")
    me = session.get(tok["id"], headers={"Authorization": f"Bearer {tok['access_token']}"}, timeout=30)
    check(me.status_code == 200 and me.json().get("organization_id"), "the identity URL answered for the token")
    print("PASS")


def sobject_methods(sf, ext_field):
    """create (POST .../Contact/), get, get_by_custom_id, metadata, describe, global describe."""
    made = sf.Contact.create({"LastName": "Created", ext_field: "check-create-1"})
    check(made.get("success") is True and len(made.get("id", "")) == 18, "Contact.create() created a record")
    one = sf.Contact.get(made["id"])
    check(one["Id"] == made["id"] and one["attributes"]["type"] == "Contact", "Contact.get() read it by id")
    by_ext = sf.Contact.get_by_custom_id(ext_field, "check-create-1")
    check(by_ext["Id"] == made["id"], "Contact.get_by_custom_id() found it by the external id")
    meta = sf.Contact.metadata()
    check(meta["objectDescribe"]["name"] == "Contact", "Contact.metadata() answered the basic info")
    fields = {f["name"]: f for f in sf.Contact.describe()["fields"]}
    check(fields.get(ext_field, {}).get("externalId") is True, "Contact.describe() marks the external id field")
    check(fields["SystemModstamp"]["filterable"] is True, "Contact.describe() says SystemModstamp is filterable")
    check(fields["LastName"]["nillable"] is False, "Contact.describe() says LastName is required")
    check(any(o["name"] == "Contact" for o in sf.describe()["sobjects"]), "describe() lists Contact")
    return made


def replication(sf, tok, made):
    """updated / delete / deleted over a window around the simulator's clock (the token's issued_at)."""
    now = datetime.fromtimestamp(int(tok["issued_at"]) / 1000, tz=timezone.utc)
    start, end = now - timedelta(hours=1), now + timedelta(minutes=1)
    upd = sf.Contact.updated(start, end)
    check(made["id"] in upd["ids"] and "latestDateCovered" in upd, "Contact.updated() lists the new record")
    status = sf.Contact.delete(made["id"])
    check(status == 204, f"Contact.delete() answered {status}")
    gone = sf.Contact.deleted(start, end)
    check(any(d["id"] == made["id"] for d in gone["deletedRecords"]), "Contact.deleted() lists the deleted record")


if __name__ == "__main__":
    main()
