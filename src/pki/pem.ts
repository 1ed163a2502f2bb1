/** The DER bodies of every `-----BEGIN <label>-----` block in PEM text, in order. */
export function pemBlocks(text: string, label = 'CERTIFICATE'): Uint8Array[] {
  const pattern = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`, 'g');
  return [...text.matchAll(pattern)].map((match) => new Uint8Array(Buffer.from(match[1] ?? '', 'base64')));
}
