/**
 * The one snapshot shape (../shared/docs/contract.md §2): `decode`, `poll`, stdout mode and the
 * MQTT state payload all print exactly this object. Keys carry their unit; a value the BMS did not
 * report is omitted, never invented.
 *
 * Current sign: (raw − 30000) × 0.1 A as decoded, i.e. positive = charging on every capture we have
 * (daly-protocol.md §6). The per-BMS `invertCurrent` option flips current_A and power_W in exactly
 * one place (bms/invert.ts).
 */
export type Protocol = "a5" | "d2" | "p81";
export type PackState = "idle" | "charging" | "discharging";

export interface Snapshot {
  protocol?: Protocol;
  /** Pack voltage [V]. */
  voltage_V?: number;
  /** Pack current [A], positive = charging (see above). */
  current_A?: number;
  /** Power [W], same sign as current_A. */
  power_W?: number;
  /** State of charge [%], 0–100. */
  soc_pct?: number;
  /** Remaining capacity [Ah]. */
  remaining_Ah?: number;
  /** Rated (nominal) capacity [Ah] from the settings block, when read. */
  rated_capacity_Ah?: number;
  cycles?: number;
  /** Cell voltages [mV], cell 1 first. */
  cells_mV?: number[];
  /** Temperature sensors [°C], sensor 1 first. */
  temperatures_C?: number[];
  /** MOSFET temperature [°C], on models that report it. */
  mos_temp_C?: number;
  /** Board temperature [°C], on models that report it. */
  board_temp_C?: number;
  cell_count?: number;
  temp_sensor_count?: number;
  max_cell_mV?: number;
  min_cell_mV?: number;
  /** 1-based. */
  max_cell_index?: number;
  /** 1-based. */
  min_cell_index?: number;
  delta_cell_mV?: number;
  avg_cell_mV?: number;
  max_temp_C?: number;
  min_temp_C?: number;
  state?: PackState;
  charge_mosfet?: boolean;
  discharge_mosfet?: boolean;
  charger_connected?: boolean;
  load_connected?: boolean;
  /** True while the balancer runs (D2 reports only this, not which cells). */
  balancing_active?: boolean;
  /** 1-based numbers of the cells being balanced, where the protocol says which. */
  balancing?: number[];
  /** Active alarms as stable snake_case names (bms/alarms.ts lists every name). */
  alarms?: string[];
  /** The entries of `alarms` that are bit-number fallbacks (no source documents the bit). */
  alarms_unnamed?: string[];
  /** Raw alarm bytes as hex, so unnamed bits are never lost. */
  alarm_raw?: string;
  /** Legacy 0x98 byte 7 "fault code" when non-zero. */
  fault_code?: number;
  /**
   * "ok" after an accepted sample; "sleeping" when the module connects but the BMS does not answer
   * (bms/gate.ts); "busy" when another client holds the link's notify/write characteristic (BlueZ).
   */
  status?: "ok" | "sleeping" | "busy";
  /** Samples the plausibility gate rejected since start (bms/gate.ts). */
  rejected_samples?: number;
  /** Energy into / out of the battery since the counters were created [kWh] (bms/energy.ts). */
  energy_charged_kWh?: number;
  energy_discharged_kWh?: number;
  firmware_version?: string;
  hardware_version?: string;
  battery_code?: string;
}

/** Keys of Snapshot whose values are numbers (used by catalogues and range checks). */
export type NumericKey = {
  [K in keyof Snapshot]-?: Snapshot[K] extends number | undefined ? K : never;
}[keyof Snapshot];
