// An authoritative DNS server on loopback UDP for tests: answers from a zone the test controls
// (MX, A, AAAA, TXT, null MX), NXDOMAIN for unknown names, and can be told to SERVFAIL for a name.
// Point the daemon at it with `dns: { servers: ["127.0.0.1:PORT"] }`.
import dgram from 'node:dgram';
import dnsPacket, { type Answer } from 'dns-packet';

export type ZoneRecord =
  | { type: 'MX'; exchange: string; preference: number }
  | { type: 'A' | 'AAAA'; address: string }
  | { type: 'TXT'; data: string | string[] };

export type Behaviour = 'servfail';

export class DnsServer {
  private readonly zone = new Map<string, ZoneRecord[]>();
  private readonly behaviours = new Map<string, Behaviour>();

  private constructor(
    private readonly socket: dgram.Socket,
    readonly port: number,
  ) {}

  static async start(host = '127.0.0.1'): Promise<DnsServer> {
    const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve) => socket.bind(0, host, resolve));
    const server = new DnsServer(socket, socket.address().port);
    socket.on('message', (msg, rinfo) => server.answer(msg, rinfo));
    return server;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Add records for a name (case-insensitive, without trailing dot). */
  add(name: string, ...records: ZoneRecord[]): this {
    const key = name.toLowerCase();
    this.zone.set(key, [...(this.zone.get(key) ?? []), ...records]);
    return this;
  }

  set(name: string, records: ZoneRecord[]): this {
    this.zone.set(name.toLowerCase(), records);
    return this;
  }

  behave(name: string, behaviour: Behaviour | null): this {
    if (behaviour) this.behaviours.set(name.toLowerCase(), behaviour);
    else this.behaviours.delete(name.toLowerCase());
    return this;
  }

  private answer(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    let query: dnsPacket.Packet;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return;
    }
    const question = query.questions?.[0];
    if (!question) return;
    const name = question.name.toLowerCase().replace(/\.$/, '');
    const behaviour = this.behaviours.get(name);
    const records = this.zone.get(name);
    const rcode = behaviour === 'servfail' ? 'SERVFAIL' : records === undefined ? 'NXDOMAIN' : 'NOERROR';
    const answers: Answer[] = (records ?? [])
      .filter((r) => behaviour === undefined && r.type === question.type)
      .map((r) => toAnswer(question.name, r));
    const response = dnsPacket.encode({
      type: 'response',
      id: query.id ?? 0,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | rcodeFlag(rcode),
      questions: [question],
      answers,
    });
    this.socket.send(response, rinfo.port, rinfo.address);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** A TXT character-string holds at most 255 bytes; longer text becomes several strings. */
function chunk255(text: string): string[] {
  const chunks: string[] = [];
  for (let i = 0; i < text.length; i += 255) chunks.push(text.slice(i, i + 255));
  return chunks.length > 0 ? chunks : [''];
}

function rcodeFlag(rcode: 'NOERROR' | 'NXDOMAIN' | 'SERVFAIL'): number {
  return rcode === 'NXDOMAIN' ? 3 : rcode === 'SERVFAIL' ? 2 : 0;
}

function toAnswer(name: string, record: ZoneRecord): Answer {
  const base = { name, ttl: 60, class: 'IN' as const };
  switch (record.type) {
    case 'MX':
      return { ...base, type: 'MX', data: { exchange: record.exchange, preference: record.preference } };
    case 'A':
      return { ...base, type: 'A', data: record.address };
    case 'AAAA':
      return { ...base, type: 'AAAA', data: record.address };
    case 'TXT':
      return { ...base, type: 'TXT', data: (Array.isArray(record.data) ? record.data : [record.data]).flatMap(chunk255) };
  }
}
