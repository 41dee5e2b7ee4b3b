import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  assertPublishTopic,
  bmsAvailabilityTopic,
  bmsIdFromMac,
  bmsStateTopic,
  bridgeAvailabilityTopic,
  bridgeInfoTopic,
  bridgeRegistryTopic,
  discoveryConfigTopic,
  legacyBridgeAvailabilityTopic,
  normalizeMac,
} from "../../src/ha/topics.js";

const ID = "daly_bms_c0d63c572a01";

describe("ha/topics bmsIdFromMac", () => {
  it("accepts colon, dash and no separators, any case (contract.md §5)", () => {
    for (const mac of ["C0:D6:3C:57:2A:01", "c0-d6-3c-57-2a-01", "c0d63c572a01", "C0D63C572A01", " c0:d6:3c:57:2a:01 "]) {
      assert.equal(bmsIdFromMac(mac), ID, mac);
    }
  });

  it("throws on anything that is not a MAC", () => {
    for (const mac of ["", "c0:d6:3c:57:2a", "c0:d6:3c:57:2a:01:02", "c0:d6-3c:57:2a:01", "g0:d6:3c:57:2a:01",
      "c0::d6:3c:57:2a:01", "c0d6.3c57.2a01", "c0:d6:3c:57:2a:1"]) {
      assert.throws(() => bmsIdFromMac(mac), /invalid MAC/, JSON.stringify(mac));
    }
  });

  it("normalizeMac gives lower case with colons", () => {
    assert.equal(normalizeMac("C0-D6-3C-57-2A-01"), "c0:d6:3c:57:2a:01");
    assert.equal(normalizeMac("c0d63c572a01"), "c0:d6:3c:57:2a:01");
  });
});

describe("ha/topics builders", () => {
  it("uses the contract defaults", () => {
    assert.equal(bridgeAvailabilityTopic("garage"), "daly_bms/bridge/garage/availability");
    assert.equal(bridgeRegistryTopic("garage"), "daly_bms/bridge/garage/registry");
    assert.equal(bridgeInfoTopic("garage"), "daly_bms/bridge/garage/info");
    assert.equal(legacyBridgeAvailabilityTopic(), "daly_bms/bridge/availability");
    assert.equal(bmsAvailabilityTopic(ID), `daly_bms/${ID}/availability`);
    assert.equal(bmsStateTopic(ID), `daly_bms/${ID}/state`);
    assert.equal(discoveryConfigTopic("sensor", ID, "voltage"), `homeassistant/sensor/${ID}/voltage/config`);
    assert.equal(discoveryConfigTopic("binary_sensor", ID, "charge_mosfet"),
      `homeassistant/binary_sensor/${ID}/charge_mosfet/config`);
  });

  it("honours configured roots, including multi-level ones", () => {
    const opts = { baseTopic: "garage/batteries", discoveryPrefix: "ha" };
    assert.equal(bridgeAvailabilityTopic("shed", opts), "garage/batteries/bridge/shed/availability");
    assert.equal(bmsStateTopic(ID, opts), `garage/batteries/${ID}/state`);
    assert.equal(discoveryConfigTopic("sensor", ID, "cell_1", opts), `ha/sensor/${ID}/cell_1/config`);
  });

  it("refuses wildcards and empty levels", () => {
    for (const baseTopic of ["", "daly/+", "daly/#", "/daly", "daly/", "a//b"]) {
      assert.throws(() => bmsStateTopic(ID, { baseTopic }), /MQTT topic/, baseTopic);
    }
    assert.throws(() => bridgeAvailabilityTopic("a", { baseTopic: "x/#" }), /must not contain/);
    assert.throws(() => discoveryConfigTopic("sensor", ID, "voltage", { discoveryPrefix: "home+assistant" }), /must not contain/);
    assert.throws(() => assertPublishTopic("a/\u0000"), /NUL/);
    assert.throws(() => bridgeAvailabilityTopic("a", { baseTopic: "$SYS" }), /reserved/);
  });

  it("refuses bridge ids that are not one safe topic level", () => {
    for (const id of ["", "a/b", "+", "#", "shed 2", "ü", "x".repeat(65)]) {
      assert.throws(() => bridgeAvailabilityTopic(id), /invalid bridge id/, id);
    }
    assert.equal(bridgeAvailabilityTopic("Shed_2-b"), "daly_bms/bridge/Shed_2-b/availability");
  });

  it("refuses bad bms ids and entity keys", () => {
    assert.throws(() => bmsStateTopic("C0:D6:3C:57:2A:01"), /invalid bms_id/);
    assert.throws(() => bmsStateTopic("daly_bms_C0D63C572A01"), /invalid bms_id/);
    for (const key of ["", "Voltage", "cell-1", "a/b", "+"]) {
      assert.throws(() => discoveryConfigTopic("sensor", ID, key), /invalid entity key/, key);
    }
  });
});
