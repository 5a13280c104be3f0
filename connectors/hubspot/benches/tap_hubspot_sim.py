"""Runs singer-io's tap-hubspot (PyPI `tap-hubspot`, 4.5.0) contacts sync against a HubSpot
simulator, for `benches/backfill.rs`.

usage: python3 tap_hubspot_sim.py BASE_URL TOKEN

The tap reads contacts through the v3 list API (`GET /crm/v3/objects/contacts?limit=100&after=…
&properties=…&associations=…`), as the simulator serves it. Two things are patched, nothing in
its request pattern: `BASE_URL` (the tap has no setting for it), and the custom-object streams,
which need `/crm/v3/schemas` (not simulated; the account has no custom objects). The catalog is
the tap's own discovery of the contacts stream (one `GET /crm/v3/properties/contacts`), every
field selected as `select_fields_by_default` does. Records go to stdout as Singer messages; the
seconds of the sync alone go to stderr as `TAP_SECONDS s`.
"""

import json
import sys
import time

import tap_hubspot


def main():
    base, token = sys.argv[1], sys.argv[2]
    tap_hubspot.BASE_URL = base.rstrip("/")
    tap_hubspot.CONFIG.update({
        "api_key": token,
        "start_date": "2000-01-01T00:00:00Z",
        "select_fields_by_default": True,
    })
    tap_hubspot.generate_custom_streams = lambda mode, catalog=None: []
    stream = next(s for s in tap_hubspot.STREAMS if s.tap_stream_id == "contacts")
    schema, mdata = tap_hubspot.load_discovered_schema(stream)
    for entry in mdata:
        if tuple(entry["breadcrumb"]) == ():
            entry["metadata"]["selected"] = True
    catalog = {"streams": [{"stream": "contacts", "tap_stream_id": "contacts",
                            "schema": schema, "metadata": mdata}]}
    # As the tap reads a catalog file: JSON (breadcrumbs become lists).
    catalog = json.loads(json.dumps(catalog))
    # Discovery is a run of its own in real use: let its request leave the 10 s burst window.
    time.sleep(float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
    started = time.monotonic()
    tap_hubspot.do_sync({}, catalog)
    print(f"TAP_SECONDS {time.monotonic() - started:.3f}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
