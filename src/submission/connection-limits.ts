// Connection limits over every submission listener together: at most limits.maxClients sessions in
// total and limits.maxClientsPerAddress from one client address (Postfix's
// smtpd_client_connection_count_limit), so one client cannot take every slot. A session is admitted
// when smtp-server announces it (onConnect) and released when it closes; one over a limit gets
// 421 4.7.0 and is closed. Counts live in a Map of the addresses connected now: O(1) per connection.
import { Replies } from '../smtp/replies.js';
import type { Reply } from '../smtp/reply.js';

export interface ConnectionLimitSettings {
  readonly maxClients: number;
  readonly maxClientsPerAddress: number;
}

export class ConnectionLimits {
  private total = 0;
  private readonly perAddress = new Map<string, number>();
  private readonly admitted = new Set<string>();

  constructor(private settings: ConnectionLimitSettings) {}

  /** New limits (a reload); sessions already admitted stay. */
  configure(settings: ConnectionLimitSettings): void {
    this.settings = settings;
  }

  /** Admit session `id` from `address`, or the reply that refuses it. */
  admit(id: string, address: string): Reply | null {
    const fromAddress = this.perAddress.get(address) ?? 0;
    if (this.total >= this.settings.maxClients) return Replies.tooManyConnections;
    if (fromAddress >= this.settings.maxClientsPerAddress) return Replies.tooManyConnectionsFrom(address);
    this.total += 1;
    this.perAddress.set(address, fromAddress + 1);
    this.admitted.add(id);
    return null;
  }

  /** Release a session; false for one that was refused (or never announced). */
  release(id: string, address: string): boolean {
    if (!this.admitted.delete(id)) return false;
    this.total -= 1;
    const left = (this.perAddress.get(address) ?? 1) - 1;
    if (left > 0) this.perAddress.set(address, left);
    else this.perAddress.delete(address);
    return true;
  }

  get size(): number {
    return this.total;
  }
}
