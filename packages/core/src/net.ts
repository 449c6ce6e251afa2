/**
 * Whether a client address is this machine (IPv4 127/8, ::1, or IPv4-mapped
 * loopback). Every protocol requires TLS from clients that are not: the
 * credential travels as a password.
 */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}
