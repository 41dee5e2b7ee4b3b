/** One BLE adapter, one operation at a time: polls of several BMS queue here in arrival order. */
export class AdapterQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  get depth(): number {
    return this.waiting;
  }

  run<T>(fn: () => Promise<T>): Promise<T> {
    this.waiting += 1;
    const go = async (): Promise<T> => {
      this.waiting -= 1;
      return fn();
    };
    const p = this.tail.then(go, go);
    this.tail = p.catch(() => undefined);
    return p;
  }
}
