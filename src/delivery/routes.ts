// Static next hops (`delivery.routes`, like Postfix's transport_maps): a recipient domain is matched
// exactly first, then by the longest ".parent" key that it is a subdomain of (".example.com" matches
// a.example.com and a.b.example.com, not example.com itself), then by "*". Keys are case-insensitive
// and may end in a dot. A route names "host:port" (IPv6 as "[addr]:port"); no MX lookup is made for it.
import { parseEndpoint } from '../config/schema.js';
import { lowerDomain } from '../smtp/address.js';

export interface Route {
  readonly host: string;
  readonly port: number;
}

export class RouteTable {
  private readonly routes = new Map<string, Route>();

  constructor(config: Readonly<Record<string, string>>) {
    for (const [key, value] of Object.entries(config)) this.routes.set(lowerDomain(key), parseEndpoint(value));
  }

  find(domain: string): Route | undefined {
    const name = lowerDomain(domain);
    const exact = this.routes.get(name);
    if (exact) return exact;
    for (let dot = name.indexOf('.'); dot >= 0; dot = name.indexOf('.', dot + 1)) {
      const parent = this.routes.get(name.slice(dot));
      if (parent) return parent;
    }
    return this.routes.get('*');
  }
}
