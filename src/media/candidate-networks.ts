/**
 * Which remote ICE candidates the media leg may contact. An SDP names the addresses our ICE agent
 * sends STUN checks to, so without a policy anyone who can hand us an SDP (an API client, a forged
 * webhook) can make the connector send UDP to any host and port, inside our network included.
 * Meta's relays are public addresses (AS32934), so the default allows public unicast addresses
 * only; loopback is added when the leg itself runs on loopback (development, tests).
 */
import { BlockList, isIP } from 'node:net';

import { ConnectorError } from '../errors/connector-error.js';

/** Special-purpose ranges (IANA IPv4/IPv6 special-purpose registries) that are not public. */
const NOT_PUBLIC_V4: readonly [string, number][] = [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // shared address space (CGNAT)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation (TEST-NET-1)
  ['192.88.99.0', 24], // deprecated 6to4 relay anycast
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation (TEST-NET-2)
  ['203.0.113.0', 24], // documentation (TEST-NET-3)
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, limited broadcast
];
const NOT_PUBLIC_V6: readonly [string, number][] = [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['64:ff9b:1::', 48], // local-use IPv4/IPv6 translation
  ['100::', 64], // discard-only
  ['2001::', 32], // Teredo
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
];

/** The keyword that stands for every public unicast address. */
export const PUBLIC_NETWORKS = 'public';

function family(address: string): 'ipv4' | 'ipv6' | undefined {
  const v = isIP(address);
  return v === 4 ? 'ipv4' : v === 6 ? 'ipv6' : undefined;
}

/** True for loopback addresses (127.0.0.0/8, ::1, and their IPv4-mapped forms). */
export function isLoopbackAddress(address: string): boolean {
  return LOOPBACK.check(address, family(address) ?? 'ipv4');
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

const NOT_PUBLIC = new BlockList();
for (const [net, prefix] of NOT_PUBLIC_V4) NOT_PUBLIC.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of NOT_PUBLIC_V6) NOT_PUBLIC.addSubnet(net, prefix, 'ipv6');

export interface CandidateNetworkPolicyOptions {
  /**
   * Optional - networks whose candidates may be contacted: CIDRs (`203.0.113.0/24`,
   * `2a03:2880::/32`), single addresses, or `public` for every public unicast address. Default
   * `['public']`.
   */
  networks?: readonly string[] | undefined;
  /** Optional - also allow loopback addresses. Default false. */
  allowLoopback?: boolean;
}

/** An allow-list of networks for remote ICE candidates. */
export class CandidateNetworkPolicy {
  /** The networks as configured (for logs and error messages). */
  readonly description: string;
  private readonly allowPublic: boolean;
  private readonly allowed = new BlockList();

  /**
   * @throws ConnectorError `invalid_argument` for an entry that is neither `public`, an IP address
   * nor a CIDR.
   */
  constructor(options: CandidateNetworkPolicyOptions = {}) {
    const networks = options.networks ?? [PUBLIC_NETWORKS];
    let allowPublic = false;
    for (const entry of networks) {
      const spec = entry.trim();
      if (spec.toLowerCase() === PUBLIC_NETWORKS) {
        allowPublic = true;
        continue;
      }
      const slash = spec.indexOf('/');
      const address = slash === -1 ? spec : spec.slice(0, slash);
      const type = family(address);
      const bits = type === 'ipv6' ? 128 : 32;
      const prefixText = slash === -1 ? String(bits) : spec.slice(slash + 1);
      const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
      if (type === undefined || !(prefix >= 0 && prefix <= bits)) {
        throw new ConnectorError(
          'invalid_argument',
          `allowed candidate network "${spec.slice(0, 64)}" is not "public", an IP address or a CIDR such as 203.0.113.0/24`,
        );
      }
      this.allowed.addSubnet(address, prefix, type);
    }
    if (options.allowLoopback) {
      this.allowed.addSubnet('127.0.0.0', 8, 'ipv4');
      this.allowed.addAddress('::1', 'ipv6');
    }
    this.allowPublic = allowPublic;
    this.description = [...networks, ...(options.allowLoopback ? ['loopback'] : [])].join(',');
  }

  /** True if a candidate on `address` may be contacted. Host names (mDNS) are never allowed. */
  allows(address: string): boolean {
    const type = family(address);
    if (type === undefined) return false;
    if (this.allowed.check(address, type)) return true;
    return this.allowPublic && !NOT_PUBLIC.check(address, type);
  }
}
