/**
 * The hint for a 401, from what the server said: its WWW-Authenticate challenge (RFC 9110 §11.6.1)
 * and whether we sent HTTP Basic. Without a challenge the refusal is about the TLS client
 * certificate, the only other credential an EST client presents (RFC 7030 §3.3.2).
 */
export function authenticationHint(
  status: number,
  challenge: string | string[] | undefined,
  basicSent: boolean,
): string | undefined {
  if (status !== 401) return undefined;
  const said = Array.isArray(challenge) ? challenge.join(', ') : challenge?.trim();
  if (!said) {
    return 'the server said 401 without a WWW-Authenticate challenge: it did not accept the TLS client certificate (check that it trusts the factory/operational CA)';
  }
  if (/^basic\b/i.test(said) || /,\s*basic\b/i.test(said)) {
    return basicSent
      ? `the server said 401 with WWW-Authenticate: ${said}: it refused the HTTP Basic credentials (identity.est.username/password)`
      : `the server said 401 with WWW-Authenticate: ${said}: it wants HTTP Basic in addition to the certificate; set identity.est.username/password`;
  }
  return `the server said 401 with WWW-Authenticate: ${said}: a scheme this gateway does not speak (it sends the TLS client certificate and, when set, HTTP Basic)`;
}
