// A Clock that moves only when a test says so.
import type { Clock } from '../../src/platform/clock.js';

export class FakeClock implements Clock {
  constructor(private time = Date.UTC(2026, 10, 25, 12, 0, 0)) {}

  now(): number {
    return this.time;
  }

  advance(ms: number): void {
    this.time += ms;
  }
}
