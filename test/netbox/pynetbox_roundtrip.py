#!/usr/bin/python3
"""Drives Hangar's NetBox-compatible API with the unmodified pynetbox client (Debian's python3-pynetbox).

Environment: HANGAR_URL (http://127.0.0.1:PORT), HANGAR_TOKEN (an admin token), NBC_PREFIX (default 10.77.0.0/29,
which must hold no addresses yet). Creates its own objects under a random suffix, checks every answer with plain
asserts, deletes what it made, and prints one summary line.
Exits 1 if any step failed, naming each. Run with Debian's interpreter: /usr/bin/python3.
"""
import ipaddress
import os
import secrets
import sys
import traceback
from contextlib import contextmanager

import pynetbox

URL = os.environ["HANGAR_URL"]
TOKEN = os.environ["HANGAR_TOKEN"]
PREFIX = os.environ.get("NBC_PREFIX", "10.77.0.0/29")
RUN = secrets.token_hex(3)  # keeps names unique if the script runs twice against one store

api = pynetbox.api(URL, token=TOKEN)
passed = []
failed = []


@contextmanager
def step(name):
    """Runs one named check. A failure prints the step, the error, the HTTP exchange and the traceback, and the run
    goes on so one run shows every gap; later steps that needed the failed one fail too, after it in the output."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 - any failure, assert or client error, fails the step
        failed.append(name)
        print(f"FAILED step '{name}': {type(error).__name__}: {error}", file=sys.stderr)
        exchange = getattr(error, "req", None)
        if exchange is not None:
            print(f"  request: {exchange.request.method} {exchange.request.url}", file=sys.stderr)
            print(f"  request body: {exchange.request.body!r}", file=sys.stderr)
            print(f"  response {exchange.status_code}: {exchange.text[:2000]}", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        return
    passed.append(name)
    print(f"ok {name}")


def expect_request_error(status, call):
    """Runs `call`, which must fail with a pynetbox RequestError carrying HTTP `status`; returns the error."""
    try:
        result = call()
    except pynetbox.RequestError as error:
        assert error.req.status_code == status, f"expected HTTP {status}, got {error.req.status_code}: {error.error}"
        return error
    except pynetbox.AllocationError as error:
        raise AssertionError(
            f"expected RequestError {status}, got AllocationError (HTTP {error.req.status_code}: {error.req.text}); "
            "pynetbox raises AllocationError for any 409 on POST, so NetBox answers conflicts on create with 400"
        ) from error
    raise AssertionError(f"expected HTTP {status}, but the call succeeded with {result!r}")


def names(records):
    return sorted(str(r) for r in records)


def ids(records):
    return sorted(r.id for r in records)


def value_of(choice):
    """A choice field as pynetbox exposes it: a Record made from {value, label}."""
    return choice.value if choice is not None else None


# --- the service -----------------------------------------------------------------------------------------------
status = {}
with step("status: /api/status/ reports a NetBox version of at least 3.5"):
    status = api.status()
    netbox_version = status.get("netbox-version")
    assert isinstance(netbox_version, str), f"/api/status/ has no netbox-version: {status}"
    major_minor = tuple(int(p) for p in netbox_version.split(".")[:2])
    assert major_minor >= (3, 5), f"netbox-version {netbox_version} is below 3.5"

with step("version: GET /api/ without a token answers with an API-Version header equal to major.minor"):
    assert api.version == ".".join(netbox_version.split(".")[:2]), f"api.version={api.version!r}, status={netbox_version}"

# --- the objects devices need ----------------------------------------------------------------------------------
with step("create: tags, tenant, two sites, manufacturer, device type, two device roles"):
    tag_a = api.extras.tags.create(name=f"nbc-a-{RUN}", slug=f"nbc-a-{RUN}", color="2196f3")
    tag_b = api.extras.tags.create(name=f"nbc-b-{RUN}", slug=f"nbc-b-{RUN}")
    tenant = api.tenancy.tenants.create(name=f"Tenant {RUN}", slug=f"tenant-{RUN}")
    site_a = api.dcim.sites.create(name=f"Site A {RUN}", slug=f"site-a-{RUN}", status="active", tenant=tenant.id)
    site_b = api.dcim.sites.create(name=f"Site B {RUN}", slug=f"site-b-{RUN}")
    maker = api.dcim.manufacturers.create(name=f"Maker {RUN}", slug=f"maker-{RUN}")
    model = api.dcim.device_types.create(manufacturer=maker.id, model=f"Model {RUN}", slug=f"model-{RUN}")
    role_web = api.dcim.device_roles.create(name=f"Web {RUN}", slug=f"web-{RUN}", color="ff0000")
    role_db = api.dcim.device_roles.create(name=f"DB {RUN}", slug=f"db-{RUN}", color="00ff00")
    for record, path in [(tag_a, "extras/tags"), (site_a, "dcim/sites"), (model, "dcim/device-types"), (tenant, "tenancy/tenants")]:
        assert isinstance(record.id, int), f"{path}: id {record.id!r} is not an integer"
        assert record.url == f"{URL}/api/{path}/{record.id}/", f"{path}: url {record.url!r} is not absolute"
    assert value_of(site_a.status) == "active" and site_a.status.label == "Active", f"site status {dict(site_a)['status']}"
    assert site_a.tenant.id == tenant.id, "site.tenant is not the nested tenant"
    assert model.manufacturer.id == maker.id and model.manufacturer.slug == maker.slug, "device type's nested manufacturer"

with step("get: by id, by unique filter, a missing id returns None (404)"):
    assert api.dcim.sites.get(site_a.id).slug == site_a.slug
    assert api.dcim.sites.get(slug=site_b.slug).id == site_b.id
    assert api.dcim.device_roles.get(slug=role_db.slug).name == role_db.name
    assert api.dcim.sites.get(99_999_999) is None, "GET of a missing id must be 404"

# --- devices ---------------------------------------------------------------------------------------------------
with step("create: one device with kwargs (role, tenant, tags by id and by name)"):
    web1 = api.dcim.devices.create(
        name=f"web1-{RUN}",
        device_type=model.id,
        role=role_web.id,
        site=site_a.id,
        tenant=tenant.id,
        serial=f"SN-{RUN}-1",
        status="active",
        tags=[tag_a.id, {"name": tag_b.name}],
    )
    assert web1.name == f"web1-{RUN}"
    assert web1.device_type.id == model.id and web1.site.id == site_a.id and web1.tenant.id == tenant.id, f"device {dict(web1)}"
    assert web1.role.id == role_web.id and web1.role.slug == role_web.slug, "device.role must be the nested role"
    assert value_of(web1.status) == "active", f"status {dict(web1)['status']}"
    assert sorted(t.slug for t in web1.tags) == sorted([tag_a.slug, tag_b.slug]), f"tags {dict(web1)['tags']}"
    assert web1.primary_ip4 is None and web1.primary_ip is None, "a new device has no primary IP"

with step("create: bulk create of two devices in one POST returns a list"):
    bulk = api.dcim.devices.create(
        [
            {"name": f"db1-{RUN}", "device_type": model.id, "role": role_db.id, "site": site_b.id, "serial": f"SN-{RUN}-2"},
            {"name": f"db2-{RUN}", "device_type": model.id, "role": role_db.id, "site": site_b.id, "serial": f"SN-{RUN}-3"},
        ]
    )
    assert isinstance(bulk, list) and len(bulk) == 2, f"bulk create returned {bulk!r}"
    db1, db2 = sorted(bulk, key=lambda d: d.name)
    assert db1.name == f"db1-{RUN}" and db2.site.id == site_b.id

with step("create: an interface with a MAC address"):
    mac = "52:54:00:AB:CD:01"
    eth0 = api.dcim.interfaces.create(device=web1.id, name="eth0", type="1000base-t", mac_address=mac.lower())
    assert eth0.device.id == web1.id, f"interface {dict(eth0)}"
    assert value_of(eth0.type) == "1000base-t", f"interface type {dict(eth0)['type']}"
    assert eth0.mac_address.upper() == mac, f"mac_address {eth0.mac_address!r}"
    assert eth0.mac_address == mac, f"NetBox returns MACs upper-case with colons, got {eth0.mac_address!r}"

with step("filter: devices by site, site_id, role, role_id, tenant, serial, mac_address, tag, q, status"):
    mine = {web1.id, db1.id, db2.id}

    def found(**filters):
        return ids(d for d in api.dcim.devices.filter(**filters) if d.id in mine)

    assert found(site=site_a.slug) == [web1.id], "site=<slug>"
    assert found(site_id=site_b.id) == ids([db1, db2]), "site_id=<id>"
    assert found(site=[site_a.slug, site_b.slug]) == sorted(mine), "site repeated = OR"
    assert found(role=role_db.slug) == ids([db1, db2]), "role=<slug>"
    assert found(role_id=role_web.id) == [web1.id], "role_id=<id>"
    assert found(tenant=tenant.slug) == [web1.id], "tenant=<slug>"
    assert found(serial=f"SN-{RUN}-2") == [db1.id], "serial="
    assert found(mac_address=mac) == [web1.id], "mac_address= (device's interfaces)"
    assert found(mac_address=mac.lower().replace(":", "-")) == [web1.id], "mac_address in another notation"
    assert found(tag=tag_b.slug) == [web1.id], "tag=<slug>"
    assert names(api.dcim.devices.filter(f"db2-{RUN}")) == [f"db2-{RUN}"], "q= free-text search"
    assert found(status="active") == sorted(mine), "status=active (the default)"
    assert api.dcim.devices.count(site_id=site_b.id) == 2, "count() reads count from ?limit=1"
    assert api.dcim.devices.get(name=f"db1-{RUN}").id == db1.id, "get(name=)"
    assert api.dcim.interfaces.get(device_id=web1.id, name="eth0").id == eth0.id, "interfaces by device_id and name"

with step("pagination: all(limit=1) follows next links and pynetbox's limit=<count>&offset=1 request"):
    walked = [d.id for d in api.dcim.devices.all(limit=1)]
    assert len(walked) == len(set(walked)), f"a page repeated records: {walked}"
    assert mine <= set(walked), f"paging lost devices: {sorted(mine - set(walked))}"
    assert len(walked) == api.dcim.devices.count(), "paging must return exactly count records"
    page = list(api.dcim.devices.filter(site_id=site_b.id, limit=1, offset=1))
    assert len(page) == 1 and page[0].id == db2.id, f"limit=1&offset=1 gave {names(page)}"
    threaded = pynetbox.api(URL, token=TOKEN, threading=True)  # fetches pages 2.. with 4 requests in flight
    assert sorted(d.id for d in threaded.dcim.devices.all(limit=1)) == sorted(walked), "threaded paging"

with step("choices: OPTIONS on a list endpoint gives actions.POST.<field>.choices (value, display_name)"):
    device_status = api.dcim.devices.choices().get("status", [])
    assert {"value": "active", "display_name": "Active"} in device_status, f"device status choices {device_status}"
    interface_types = [c["value"] for c in api.dcim.interfaces.choices().get("type", [])]
    assert "1000base-t" in interface_types, f"interface type choices {interface_types}"

# --- IPAM ------------------------------------------------------------------------------------------------------
network = ipaddress.ip_network(PREFIX)
hosts = [f"{ip}/{network.prefixlen}" for ip in network.hosts()]

with step(f"create: prefix {PREFIX}"):
    prefix = api.ipam.prefixes.create(prefix=PREFIX, site=site_a.id, status="active", tags=[tag_a.id])
    assert str(prefix) == PREFIX and prefix.prefix == PREFIX, f"prefix {dict(prefix)}"
    assert value_of(prefix.family) == 4, f"prefix family {dict(prefix)['family']}"
    assert value_of(prefix.status) == "active", f"prefix status {dict(prefix)['status']}"
    assert prefix.site.id == site_a.id, f"prefix site {dict(prefix)['site']}"

with step("available-ips: list() shows every host address of an empty prefix"):
    free = prefix.available_ips.list()
    assert [ip.address for ip in free] == hosts, f"available {[ip.address for ip in free]}"
    assert all(ip.family == 4 for ip in free), "available-ips items carry family 4"

with step("available-ips: create({}) takes the first free address"):
    first = prefix.available_ips.create({})
    assert first.address == hosts[0], f"first allocation {first.address}"
    assert isinstance(first.id, int) and first.url == f"{URL}/api/ipam/ip-addresses/{first.id}/"
    assert value_of(first.status) == "active", "allocated addresses are active by default"

with step("available-ips: create([{..},{..}]) allocates a list, with the given fields"):
    pair = prefix.available_ips.create([{"description": f"pair-a-{RUN}"}, {"description": f"pair-b-{RUN}", "dns_name": f"b.{RUN}.test"}])
    assert isinstance(pair, list) and [ip.address for ip in pair] == hosts[1:3], f"pair {pair!r}"
    assert [ip.description for ip in pair] == [f"pair-a-{RUN}", f"pair-b-{RUN}"]
    assert pair[1].dns_name == f"b.{RUN}.test"

with step("available-ips: exhausting the prefix ends with 409, which pynetbox raises as AllocationError"):
    rest = []
    exhausted = None
    for _ in range(len(hosts) + 1):
        try:
            rest.append(prefix.available_ips.create({}))
        except pynetbox.AllocationError as error:
            exhausted = error
            break
    assert exhausted is not None, f"allocation never stopped: {[ip.address for ip in rest]}"
    assert exhausted.req.status_code == 409, f"exhausted prefix answered {exhausted.req.status_code}"
    allocated = [first, *pair, *rest]
    assert sorted(ip.address for ip in allocated) == sorted(hosts), f"allocated {[ip.address for ip in allocated]}"
    assert prefix.available_ips.list() == [], "nothing is available after exhaustion"

with step("filter: ip-addresses by parent, q, address, tag"):
    by_parent = api.ipam.ip_addresses.filter(parent=PREFIX)
    assert sorted(ip.address for ip in by_parent) == sorted(hosts), "parent=<prefix>"
    assert [ip.address for ip in api.ipam.ip_addresses.filter(q=f"pair-a-{RUN}")] == [hosts[1]], "q= matches description"
    assert [ip.id for ip in api.ipam.ip_addresses.filter(address=hosts[0])] == [first.id], "address="
    first.tags = [tag_b]
    assert first.save(), "save() of a tag change sends tags as a list of ids"
    assert [ip.id for ip in api.ipam.ip_addresses.filter(tag=tag_b.slug)] == [first.id], "tag=<slug>"
    assert [p.id for p in api.ipam.prefixes.filter(tag=tag_a.slug)] == [prefix.id], "prefixes by tag"
    assert [p.id for p in api.ipam.prefixes.filter(q="10.77.0.0")] == [prefix.id], "prefixes by q="

with step("assign: an address to the interface with save() (assigned_object_type/id)"):
    first.assigned_object_type = "dcim.interface"
    first.assigned_object_id = eth0.id
    assert first.save()
    again = api.ipam.ip_addresses.get(first.id)
    assert again.assigned_object_type == "dcim.interface" and again.assigned_object_id == eth0.id, f"assigned: {dict(again)}"
    assert again.assigned_object.id == eth0.id and again.assigned_object.device.id == web1.id, "nested assigned_object"
    assert [ip.id for ip in api.ipam.ip_addresses.filter(interface_id=eth0.id)] == [first.id], "interface_id="
    assert [ip.id for ip in api.ipam.ip_addresses.filter(device_id=web1.id)] == [first.id], "device_id="
    assert [ip.id for ip in api.ipam.ip_addresses.filter(device=web1.name)] == [first.id], "device=<name>"
    assert api.dcim.interfaces.get(eth0.id).count_ipaddresses == 1, "interface count_ipaddresses"

with step("primary_ip4: set with save(); primary_ip mirrors it; has_primary_ip filter"):
    web1.primary_ip4 = first.id
    assert web1.save(), "save() sent nothing"
    web1 = api.dcim.devices.get(web1.id)
    assert web1.primary_ip4.id == first.id and web1.primary_ip4.address == hosts[0], "primary_ip4 nested address"
    assert web1.primary_ip is not None and web1.primary_ip.address == hosts[0], "primary_ip (read by ansible)"
    assert ids(d for d in api.dcim.devices.filter(has_primary_ip=True) if d.id in mine) == [web1.id], "has_primary_ip"

with step("update: save() sends only the changed fields; update() and choice fields"):
    web1.serial = f"SN-{RUN}-1b"
    web1.status = "offline"
    assert web1.updates() == {"serial": f"SN-{RUN}-1b", "status": "offline"}, web1.updates()
    assert web1.save()
    assert db1.update({"description": "updated by update()", "role": role_web.id})
    fresh = api.dcim.devices.get(web1.id)
    assert fresh.serial == f"SN-{RUN}-1b" and value_of(fresh.status) == "offline" and fresh.status.label == "Offline"
    assert fresh.primary_ip4.id == first.id, "a PATCH without primary_ip4 keeps it"
    fresh_db1 = api.dcim.devices.get(db1.id)
    assert fresh_db1.description == "updated by update()" and fresh_db1.role.id == role_web.id, f"after update(): {dict(fresh_db1)}"
    assert not fresh.save(), "save() with no change sends nothing"

with step("bulk update: endpoint.update([..]) and RecordSet.update() PATCH the list endpoint"):
    updated = api.dcim.devices.update([{"id": db1.id, "comments": "bulk"}, {"id": db2.id, "comments": "bulk"}])
    assert isinstance(updated, list) and ids(updated) == ids([db1, db2]), f"bulk update returned {updated!r}"
    assert all(d.comments == "bulk" for d in updated), f"bulk update returned {[dict(d) for d in updated]}"
    via_recordset = api.dcim.devices.filter(site_id=site_b.id).update(status="planned")
    assert isinstance(via_recordset, list) and ids(via_recordset) == ids([db1, db2]), f"RecordSet.update returned {via_recordset!r}"
    assert [value_of(d.status) for d in api.dcim.devices.filter(site_id=site_b.id)] == ["planned", "planned"]

# --- errors ----------------------------------------------------------------------------------------------------
with step("errors: unknown filter 400, bad choice 400, missing field 400, duplicate slug 400, wrong primary IP 400"):
    error = expect_request_error(400, lambda: list(api.dcim.devices.filter(no_such_filter="x")))
    assert "no_such_filter" in error.error, f"the 400 should name the filter: {error.error}"
    error = expect_request_error(400, lambda: api.dcim.devices.create(name=f"x-{RUN}", device_type=model.id, role=role_web.id, site=site_a.id, status="exploded"))
    assert "status" in error.error, error.error
    error = expect_request_error(400, lambda: api.dcim.devices.create(name=f"x-{RUN}", device_type=model.id, role=role_web.id))
    assert "site" in error.error, error.error
    expect_request_error(400, lambda: api.dcim.sites.create(name=f"Other {RUN}", slug=site_a.slug))
    db2.primary_ip4 = pair[0].id  # not assigned to any of db2's interfaces
    expect_request_error(400, db2.save)

with step("errors: deleting a site that still has devices is refused with 409"):
    expect_request_error(409, site_a.delete)

# --- deletes ---------------------------------------------------------------------------------------------------
with step("delete: deleting the primary IP clears the device's primary_ip4"):
    assert first.delete() is True
    assert api.ipam.ip_addresses.get(first.id) is None
    assert api.dcim.devices.get(web1.id).primary_ip4 is None, "primary_ip4 must be nulled when its address goes"

with step("delete: bulk delete by ids and by RecordSet, single delete"):
    assert api.ipam.ip_addresses.delete([ip.id for ip in pair]) is True
    assert api.ipam.ip_addresses.filter(parent=PREFIX).delete() is True
    assert list(api.ipam.ip_addresses.filter(parent=PREFIX)) == [], "RecordSet.delete() left addresses"
    assert prefix.delete() is True
    assert api.dcim.devices.delete([db1, db2]) is True
    assert api.dcim.devices.get(db1.id) is None and api.dcim.devices.get(db2.id) is None
    assert web1.delete() is True, "deleting a device deletes its interfaces"
    assert api.dcim.interfaces.get(eth0.id) is None
    for record in [model, maker, role_web, role_db, site_a, site_b, tenant, tag_a, tag_b]:
        assert record.delete() is True, f"delete {record}"
    assert api.dcim.sites.get(site_a.id) is None

summary = f"pynetbox {pynetbox.__version__} against NetBox {status.get('netbox-version')}"
if failed:
    print(f"{summary}: {len(failed)} of {len(passed) + len(failed)} steps FAILED: {'; '.join(failed)}", file=sys.stderr)
    sys.exit(1)
print(f"{summary}: all {len(passed)} steps passed")
