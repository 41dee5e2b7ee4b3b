import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { buildDiscovery, type DiscoveryContext } from "../../src/ha/discovery.js";
import { assertPublishTopic } from "../../src/ha/topics.js";
import { BMS_ID, MAC, SNAPSHOT_4S2T, SNAPSHOT_FULL_16S } from "../fixtures/ha/snapshots.js";

const CTX: DiscoveryContext = { mac: MAC, bridgeVersion: "0.1.0", bridgeId: "garage" };

function byKey(ctx: DiscoveryContext, key: string, snapshot = SNAPSHOT_4S2T) {
  const msg = buildDiscovery(ctx, snapshot).find((m) => m.key === key);
  assert.ok(msg, `no discovery message for ${key}`);
  return msg;
}

const AVAILABILITY = [
  { topic: "daly_bms/bridge/garage/availability", payload_available: "online", payload_not_available: "offline" },
  { topic: `daly_bms/${BMS_ID}/availability`, payload_available: "online", payload_not_available: "offline" },
];

describe("ha/discovery payloads", () => {
  it("golden: the voltage sensor, key for key and in order", () => {
    const msg = byKey(CTX, "voltage");
    assert.equal(msg.topic, `homeassistant/sensor/${BMS_ID}/voltage/config`);
    const expected = {
      unique_id: `${BMS_ID}_voltage`,
      object_id: `${BMS_ID}_voltage`,
      default_entity_id: `sensor.${BMS_ID}_voltage`,
      has_entity_name: true,
      name: "Voltage",
      state_topic: `daly_bms/${BMS_ID}/state`,
      value_template: "{{ value_json.voltage_V }}",
      device_class: "voltage",
      unit_of_measurement: "V",
      state_class: "measurement",
      suggested_display_precision: 1,
      availability: AVAILABILITY,
      availability_mode: "all",
      device: {
        identifiers: [BMS_ID],
        name: "Daly BMS 572A01",
        manufacturer: "Daly",
        model: "Smart BMS (legacy A5)",
        connections: [["mac", "c0:d6:3c:57:2a:01"]],
      },
      origin: { name: "daly-bms-bridge", sw_version: "0.1.0" },
    };
    assert.deepEqual(msg.payload, expected);
    assert.equal(JSON.stringify(msg.payload), JSON.stringify(expected), "key order must be stable");
  });

  it("golden: the problem binary sensor carries the alarm list as attributes", () => {
    const msg = byKey(CTX, "problem");
    assert.equal(msg.topic, `homeassistant/binary_sensor/${BMS_ID}/problem/config`);
    const p = msg.payload;
    assert.equal(p.default_entity_id, `binary_sensor.${BMS_ID}_problem`);
    assert.equal(p.device_class, "problem");
    assert.equal(p.payload_on, "ON");
    assert.equal(p.payload_off, "OFF");
    assert.equal(p.json_attributes_topic, p.state_topic);
    assert.equal(
      p.json_attributes_template,
      "{% set a = value_json.alarms | default([]) %}{% set u = value_json.alarms_unnamed | default([]) %}{{ {'alarms': a, 'named': a | reject('in', u) | list, 'unnamed': u} | tojson }}",
    );
    // the Alarms text sensor carries the same attributes
    assert.equal(byKey(CTX, "alarms").payload.json_attributes_template, p.json_attributes_template);
    assert.equal(p.entity_category, "diagnostic");
    assert.equal(p.unit_of_measurement, undefined);
  });

  it("every payload: ids, availability, device, origin, serialisable, valid topics", () => {
    const ctx: DiscoveryContext = {
      mac: "c0-d6-3c-57-2a-01", name: "Pack A", topics: { baseTopic: "garage/daly", discoveryPrefix: "ha" },
      model: "DL-R16L", swVersion: "fw 1", hwVersion: "hw 2", bridgeVersion: "1.2.3", bridgeId: "shed-2",
      supportUrl: "https://example.invalid/issues", viaDevice: "daly_bms_bridge", expireAfterSeconds: 90,
    };
    const msgs = buildDiscovery(ctx, SNAPSHOT_FULL_16S);
    const first = msgs[0];
    assert.ok(first);
    for (const { key, component, topic, payload } of msgs) {
      assert.equal(assertPublishTopic(topic), `ha/${component}/${BMS_ID}/${key}/config`);
      assert.equal(payload.unique_id, `${BMS_ID}_${key}`);
      assert.equal(payload.default_entity_id, `${component}.${BMS_ID}_${key}`);
      assert.equal(payload.has_entity_name, true);
      assert.equal(payload.state_topic, `garage/daly/${BMS_ID}/state`);
      assert.equal(payload.availability_mode, "all");
      assert.deepEqual(payload.availability.map((a) => a.topic),
        ["garage/daly/bridge/shed-2/availability", `garage/daly/${BMS_ID}/availability`]);
      assert.equal(payload.expire_after, 90);
      assert.deepEqual(payload.device, first.payload.device, "one device block for every entity");
      assert.deepEqual(JSON.parse(JSON.stringify(payload)), payload, `${key} is not plain JSON`);
      assert.ok(!Object.values(payload).includes(undefined), `${key} has undefined values`);
    }
    assert.deepEqual(first.payload.device, {
      identifiers: [BMS_ID], name: "Pack A", manufacturer: "Daly", model: "DL-R16L", sw_version: "fw 1",
      hw_version: "hw 2", connections: [["mac", "c0:d6:3c:57:2a:01"]], via_device: "daly_bms_bridge",
    });
    assert.deepEqual(first.payload.origin,
      { name: "daly-bms-bridge", sw_version: "1.2.3", support_url: "https://example.invalid/issues" });
  });

  it("device versions fall back to the snapshot, model to the protocol", () => {
    const dev = byKey(CTX, "voltage", SNAPSHOT_FULL_16S).payload.device;
    assert.equal(dev.sw_version, "20220812-1.0.3");
    assert.equal(dev.hw_version, "DL-R16L-F8S");
    assert.equal(dev.model, "Smart BMS (Modbus D2)");
    const { protocol: _p, ...noProtocol } = SNAPSHOT_4S2T;
    assert.equal(byKey({ ...CTX, protocol: "p81" }, "voltage", noProtocol).payload.device.model, "Smart BMS (0x81)");
    assert.equal(byKey(CTX, "voltage", noProtocol).payload.device.model, "Smart BMS");
    assert.equal(byKey({ ...CTX, name: "  " }, "voltage").payload.device.name, "Daly BMS 572A01");
  });

  it("entity options: enum, cells enabled on the main card, precision", () => {
    const state = byKey(CTX, "state").payload;
    assert.deepEqual(state.options, ["idle", "charging", "discharging"]);
    assert.equal(state.device_class, "enum");
    const cell = byKey(CTX, "cell_2").payload;
    assert.equal(cell.enabled_by_default, undefined);
    assert.equal(cell.entity_category, undefined);
    assert.equal(cell.unit_of_measurement, "mV");
    assert.equal(byKey(CTX, "voltage").payload.enabled_by_default, undefined);
    const remaining = byKey(CTX, "remaining_capacity").payload;
    assert.equal(remaining.device_class, undefined, "no device class exists for Ah (home-assistant.md §2.1)");
    assert.equal(remaining.unit_of_measurement, "Ah");
  });

  it("throws on an invalid MAC instead of publishing junk", () => {
    assert.throws(() => buildDiscovery({ ...CTX, mac: "nope" }, SNAPSHOT_4S2T), /invalid MAC/);
  });
});
