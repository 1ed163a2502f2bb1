/**
 * The commands an operator runs, where the CA's private key lives, to prove possession of it: a
 * certificate whose subject is CN=<nonce>, signed by the CA. The CA key never comes to the gateway.
 * OpenSSL 3 picks a random serial when none is given, so nothing is written next to the CA files.
 */
export function verificationCommands(
  nonce: string,
  files: { caCertificate?: string; caKey?: string; output?: string } = {},
): string[] {
  const certificate = shellWord(files.caCertificate ?? 'ca.pem');
  const key = shellWord(files.caKey ?? 'ca.key');
  const output = shellWord(files.output ?? 'verification.pem');
  return [
    `openssl req -new -key ${key} -subj "/CN=${nonce}" -out verification.csr`,
    `openssl x509 -req -in verification.csr -CA ${certificate} -CAkey ${key} -days 1 -out ${output}`,
    `gatewayctl sensors ca verify --cert ${output}`,
  ];
}

/** `word` quoted for a POSIX shell when it needs it, so printed commands paste as they are. */
function shellWord(word: string): string {
  return /^[\w./:@%+=,-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
