/**
 * Stable alarm names (public API: HA automations match on them). Bit n of byte b of the legacy
 * 0x98 reply (daly-protocol.md §2.5, PDF12 names; DRE's byte-0 texts are a known mistranslation).
 * D2 registers 0x3A–0x3C carry the same bytes (see daly/modbus-decode.ts). Level 1 = warning,
 * level 2 = protection (ANT). A set bit without a name is reported as `unknown_b<b>_bit<n>`;
 * `isUnnamedAlarm` tells those fallbacks from documented names.
 */
export const ALARM_NAMES: ReadonlyArray<ReadonlyArray<string | null>> = [
  [
    "cell_overvoltage_warning", "cell_overvoltage_protection", "cell_undervoltage_warning", "cell_undervoltage_protection",
    "pack_overvoltage_warning", "pack_overvoltage_protection", "pack_undervoltage_warning", "pack_undervoltage_protection",
  ],
  [
    "charge_overtemp_warning", "charge_overtemp_protection", "charge_undertemp_warning", "charge_undertemp_protection",
    "discharge_overtemp_warning", "discharge_overtemp_protection", "discharge_undertemp_warning", "discharge_undertemp_protection",
  ],
  [
    "charge_overcurrent_warning", "charge_overcurrent_protection", "discharge_overcurrent_warning", "discharge_overcurrent_protection",
    "soc_high_warning", "soc_high_protection", "soc_low_warning", "soc_low_protection",
  ],
  ["cell_voltage_diff_warning", "cell_voltage_diff_protection", "temp_diff_warning", "temp_diff_protection", null, null, null, null],
  [
    "charge_mos_overtemp", "discharge_mos_overtemp", "charge_mos_temp_sensor_fault", "discharge_mos_temp_sensor_fault",
    "charge_mos_stuck_closed", "discharge_mos_stuck_closed", "charge_mos_open_circuit", "discharge_mos_open_circuit",
  ],
  [
    "afe_fault", "cell_voltage_collection_fault", "temp_sensor_fault", "eeprom_fault",
    "rtc_fault", "precharge_failure", "external_comm_fault", "internal_comm_fault",
  ],
  // byte 6 bit 4 is set when a MOSFET was switched off by command (ANT): state, not an alarm
  ["current_module_fault", "pack_voltage_detect_fault", "short_circuit_protection_fault", "low_voltage_charge_forbidden", "", null, null, null],
];

/** Names of the set bits of legacy-ordered alarm bytes (0x98 bytes 0–6 / D2 0x3A–0x3C). */
export function legacyAlarmNames(bytes: Uint8Array): string[] {
  const out: string[] = [];
  bytes.forEach((v, b) => {
    for (let bit = 0; bit < 8; bit++) {
      if (!(v & (1 << bit))) continue;
      const name = ALARM_NAMES[b]?.[bit];
      if (name === "") continue; // documented as not-an-alarm
      out.push(name ?? `unknown_b${b}_bit${bit}`);
    }
  });
  return out;
}

/**
 * 0x81 fault words, bit by bit: named where a source documents the bit, otherwise the fallback
 * `fault_<register hex>_bit_<n>` (bit 0 = least significant bit of the register).
 * - 0x6D, 0x6E: the same alarm flags as D2 0x3A/0x3B, i.e. legacy 0x98 bytes 0–3, high byte first
 *   (syssi/esphome-daly-bms docs/protocol-register-map.md: "Alarm flags (4 registers)" D2
 *   0x003A–0x003D ↔ p81 0x006D–0x006E; SYSPLAN calls them "new fault flags 1/2"). No non-zero
 *   capture confirms it; alarm_raw keeps the bytes.
 * - 0x72 bit 2 (value 4): the "emergency forced start" is armed — both MOSFETs held closed
 *   whatever the protections say, for about 300 s (antonkostryukov/daly-bms-protocol README §4.1,
 *   §8.2: 0x0072 reads 4 while armed, 0 when it lapses).
 * - 0x66–0x69, 0x6F–0x71, 0x73 and the other bits of 0x72: no source gives meanings (PAT only
 *   lists them as error words): fallback names.
 */
const P81_NAMED: ReadonlyMap<number, (bit: number) => string | null | undefined> = new Map([
  [0x6d, (bit: number) => ALARM_NAMES[bit >= 8 ? 0 : 1]?.[bit % 8]],
  [0x6e, (bit: number) => ALARM_NAMES[bit >= 8 ? 2 : 3]?.[bit % 8]],
  [0x72, (bit: number) => (bit === 2 ? "forced_start_active" : null)],
]);

/** Names of the set bits of 0x81 fault words (`registers` in wire order, two bytes each). */
export function faultWordNames(bytes: Uint8Array, registers: readonly number[]): string[] {
  const out: string[] = [];
  registers.forEach((reg, i) => {
    const v = ((bytes[2 * i] ?? 0) << 8) | (bytes[2 * i + 1] ?? 0);
    for (let bit = 0; bit < 16; bit++) {
      if (!(v & (1 << bit))) continue;
      const name = P81_NAMED.get(reg)?.(bit);
      if (name === "") continue; // documented as not-an-alarm
      out.push(name ?? `fault_${reg.toString(16)}_bit_${bit}`);
    }
  });
  return out;
}

/** A bit-number fallback name (no source documents the bit): `unknown_b<b>_bit<n>` or `fault_<reg>_bit_<n>`. */
export function isUnnamedAlarm(name: string): boolean {
  return /^(unknown_b\d+_bit\d+|fault_[0-9a-f]+_bit_\d+)$/.test(name);
}

/** Where an alarm name sits in the 0x81 fault words (simulator): register and bit, or undefined. */
export function p81FaultBit(name: string): { reg: number; bit: number } | undefined {
  const m = /^fault_([0-9a-f]+)_bit_(\d+)$/.exec(name);
  if (m?.[1] && m[2]) return { reg: parseInt(m[1], 16), bit: Number(m[2]) };
  for (const [reg, named] of P81_NAMED) for (let bit = 0; bit < 16; bit++) if (named(bit) === name) return { reg, bit };
  return undefined;
}
