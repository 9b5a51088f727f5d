import { AccessRefusedError, BrokerUnavailableError, TlsConfigError, UsageError, type WqError, type WqErrorOptions } from '../errors.js';
import type { Failure } from './failure.js';

// Socket and TLS failures. A host that does not answer or resolve yet is retried (pods often start
// before the broker or its Service); a TLS set-up that cannot work is not: 78 when the broker's side
// or the URL is wrong (untrusted, expired, other name, no TLS on the port), 77 when the broker
// refused our client certificate, 64 when the --ca/--cert/--key files themselves are unusable.

const RETRYABLE: Record<string, string> = {
  ECONNREFUSED: 'nothing listens there (yet)',
  ENOTFOUND: 'the host name does not resolve (yet)',
  EAI_AGAIN: 'the host name does not resolve (yet)',
  ETIMEDOUT: 'the connection timed out',
  ECONNRESET: 'the connection was reset',
  EPIPE: 'the connection was reset',
  ECONNABORTED: 'the connection was aborted',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  EHOSTDOWN: 'the host is down',
};

const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG',
]);

// TLS alerts the broker sends when it will not take our certificate (or none).
const CLIENT_CERT_REFUSED = /^ERR_SSL_(TLSV13_ALERT_CERTIFICATE_REQUIRED|SSLV3_ALERT_BAD_CERTIFICATE|SSLV3_ALERT_HANDSHAKE_FAILURE|TLSV1_ALERT_UNKNOWN_CA|SSLV3_ALERT_CERTIFICATE_EXPIRED|SSLV3_ALERT_CERTIFICATE_UNKNOWN|SSLV3_ALERT_CERTIFICATE_REVOKED|TLSV1_ALERT_ACCESS_DENIED|SSLV3_ALERT_UNSUPPORTED_CERTIFICATE)$/;

export function transportFailure(f: Failure): WqError | undefined {
  const code = (f.raw as { code?: unknown } | undefined)?.code;
  const sys = typeof code === 'string' ? code : /\bconnect (ETIMEDOUT)\b/.exec(f.detail)?.[1];
  const opts: WqErrorOptions = { cause: f.raw, detail: f.detail };
  const where = `${f.operation}: ${f.safeUrl}`;
  if (sys !== undefined && RETRYABLE[sys]) return unreachable(f, RETRYABLE[sys] as string, opts);
  if (/Socket closed abruptly during opening handshake/.test(f.detail)) return unreachable(f, 'the connection closed during the AMQP handshake', opts);
  if (sys === undefined) return undefined;
  if (sys === 'ERR_SSL_WRONG_VERSION_NUMBER' || sys === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' || sys === 'ERR_SSL_HTTP_REQUEST') {
    return new TlsConfigError(`${where}: the port answered without TLS. amqps usually listens on 5671; use that port, or amqp:// for ${f.port}.`, f.raw, opts);
  }
  if (UNTRUSTED.has(sys)) {
    return new TlsConfigError(`${where}: the broker's certificate is not signed by a CA this client trusts (${sys}). Pass the CA with --ca FILE (or NODE_EXTRA_CA_CERTS).`, f.raw, opts);
  }
  if (sys === 'CERT_HAS_EXPIRED' || sys === 'CERT_NOT_YET_VALID') {
    const when = sys === 'CERT_HAS_EXPIRED' ? 'has expired' : 'is not valid yet (check the clocks)';
    return new TlsConfigError(`${where}: the broker's certificate ${when}. Renew the broker's certificate.`, f.raw, opts);
  }
  if (sys === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new TlsConfigError(`${where}: the broker's certificate is not issued for "${f.host}". Connect with a host name the certificate names (the detail lists them), or reissue it with this one.`, f.raw, opts);
  }
  if (CLIENT_CERT_REFUSED.test(sys)) {
    return new AccessRefusedError(`${where}: the broker refused the TLS handshake (${sys.replace(/^ERR_SSL_/, '')}): it wants a client certificate it trusts. Pass --cert and --key signed by a CA the broker trusts.`, f.raw, opts);
  }
  if (sys.startsWith('ERR_OSSL_') || sys === 'ERR_INVALID_ARG_TYPE') {
    return new UsageError(`${where}: the TLS files cannot be used (${sys}): --ca, --cert and --key must be PEM files, and the key must match the certificate.`, opts);
  }
  if (sys.startsWith('ERR_SSL_') || sys.startsWith('ERR_TLS_') || sys === 'EPROTO') {
    return new TlsConfigError(`${where}: the TLS handshake failed (${sys}). Check that the port speaks amqps and that client and broker share a TLS version.`, f.raw, opts);
  }
  return undefined;
}

function unreachable(f: Failure, why: string, opts: WqErrorOptions): WqError {
  const hint = f.scheme === 'amqp' && f.port === '5671' ? ' Port 5671 usually speaks amqps: use amqps:// for it.' : '';
  return new BrokerUnavailableError(`${f.operation}: cannot reach the broker at ${f.safeUrl} (${why}). Check --url or BROKER_URL and that RabbitMQ is running.${hint}`, f.raw, opts);
}
