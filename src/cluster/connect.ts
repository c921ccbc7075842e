import { readFile } from 'node:fs/promises'
import { circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleWhen } from 'cockatiel'
import type { Etcd3, IOptions } from 'etcd3'
import type { ClusterConfig } from '../config/index.js'

/**
 * The edge: reads the TLS and auth files the `cluster` section names and builds the etcd client
 * (loaded on first use: configs without `cluster` never load gRPC). gRPC reconnects the channel
 * by itself; the loops in session.ts and mirror.ts retry their calls forever on top of it.
 */
export async function etcdClient (c: ClusterConfig): Promise<Etcd3> {
  const { Etcd3, isRecoverableError } = await import('etcd3')
  const options: IOptions = {
    hosts: c.endpoints,
    dialTimeout: c.dial_timeout,
    // The client's defaults let a watch wait up to 30 s between reconnects and shun a member for 5 s after three
    // failures: after etcd was away for a while, a push or a certificate would reach this instance that late. Retries
    // stay capped at 2 s (the mirror's own backoff), a shunned member is tried again after 1 s.
    faultHandling: {
      // (The type wants a backoff state, not the factory the client's own default passes.)
      watchBackoff: new ExponentialBackoff({ initialDelay: 200, maxDelay: 2000 }).next(),
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) })
    },
    // Unary calls give up after dial_timeout: a caller (a renewal, a lock) must learn that etcd is away, not
    // hang. Streams (watches, keepalives) have no deadline: they live as long as the connection.
    defaultCallOptions: ctx => ctx.isStream ? {} : { deadline: new Date(Date.now() + c.dial_timeout) },
    // gRPC keepalive pings notice a silently dead member (no RST) and move to another endpoint.
    grpcOptions: { 'grpc.keepalive_time_ms': 10_000, 'grpc.keepalive_timeout_ms': 5000, 'grpc.keepalive_permit_without_calls': 1 }
  }
  // Without any tls file, https:// endpoints are verified against the system's roots (gRPC's default).
  if (c.tls?.ca_file !== undefined || c.tls?.cert_file !== undefined) {
    options.credentials = {
      // gRPC takes null for "the system's roots"; the client's type says Buffer.
      rootCertificate: c.tls.ca_file === undefined ? null as unknown as Buffer : await readFile(c.tls.ca_file),
      ...(c.tls.cert_file === undefined || c.tls.key_file === undefined
        ? {}
        : { certChain: await readFile(c.tls.cert_file), privateKey: await readFile(c.tls.key_file) })
    }
  }
  if (c.auth !== undefined) options.auth = { username: c.auth.username, password: (await readFile(c.auth.password_file, 'utf8')).trim() }
  return new Etcd3(options)
}
